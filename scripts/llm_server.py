"""Serve SmolLM2-135M over the OpenAI-compatible API with xllamacpp (llama.cpp's server).

Usage: llm_server.py MODEL.gguf PORT
Runs until killed. Used by scripts/local-llm.sh; nothing here talks to the network beyond
127.0.0.1.
"""
import signal
import sys
import time

import xllamacpp

model, port = sys.argv[1], int(sys.argv[2])
params = xllamacpp.CommonParams()
params.model.path = model
params.hostnames = ["127.0.0.1"]
params.port = port
# The model's trained length (llama.cpp caps a slot there anyway): long filter buffers were
# refused at 4096; CDs filter prompts reach ~6.6k tokens. The KV cache at 8k is ~0.2 GB.
params.n_ctx = 8192
params.n_parallel = 1
# One thread: two collapse when a parallel cargo build shares the machine.
params.cpuparams.n_threads = 1
params.cpuparams_batch.n_threads = 1
params.warmup = False
server = xllamacpp.Server(params)
print("listening", getattr(server, "listening_address", port), flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(3600)
