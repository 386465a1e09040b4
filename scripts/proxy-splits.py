"""Proxy splits for the 'splits we do not have' criterion, in the AgentCF pre-split format.
Run from the project root after scripts/fetch-ml100k.sh; reads ../shared/datasets/CDs-100-user-dense
and data/ml-100k, writes data/proxy/NAME (git ignores data/). Python 3, standard library only.
cds-sparse-pXX: CDs dense with XX% of training item occurrences replaced by private copies
  (same title and categories, an id no one else holds): less shared behaviour, same content.
ml100-sN: 100 MovieLens users drawn with seed N, each its last 7 ratings (5 train, valid, test),
  100 random unrated candidates; genres and decade as categories."""
import os, random, collections
src = '../shared/datasets/CDs-100-user-dense'
ml = 'data/ml-100k'
out = 'data/proxy'
H = 'user_id:token\titem_id_list:token_seq\titem_id:token\n'

def write_split(d, name, hist, valid, test, cands, items):
    os.makedirs(d, exist_ok=True)
    with open(f'{d}/{name}.train.inter', 'w') as f:
        f.write(H)
        for u, h in hist.items():
            for k in range(1, len(h)):
                f.write(f'{u}\t{" ".join(h[:k])}\t{h[k]}\n')
    for suf, tgt, extra in (('valid', valid, []), ('test', test, None)):
        with open(f'{d}/{name}.{suf}.inter', 'w') as f:
            f.write(H)
            for u, h in hist.items():
                seq = h + ([] if suf == 'valid' else [valid[u]])
                f.write(f'{u}\t{" ".join(seq)}\t{tgt[u]}\n')
    with open(f'{d}/{name}.random', 'w') as f:
        for u in hist:
            f.write(f'{u}\t{" ".join(cands[u])}\n')
    with open(f'{d}/{name}.item', 'w') as f:
        f.write('item_id:token\ttitle:token_seq\tcategory:token_seq\n')
        for i, (t, c) in items.items():
            f.write(f'{i}\t{t}\t{c}\n')

def cds_sparse(p, seed=1):
    rng = random.Random(seed)
    items = {}
    for line in open(f'{src}/CDs.item').readlines()[1:]:
        i, t, c = line.rstrip('\n').split('\t')
        items[i] = (t, c)
    hist = {}
    for line in open(f'{src}/CDs-100-user-dense.train.inter').readlines()[1:]:
        u, h, t = line.rstrip('\n').split('\t')
        if u not in hist:
            hist[u] = h.split()
        hist[u].append(t)
    valid = {l.split('\t')[0]: l.rstrip('\n').split('\t')[2] for l in open(f'{src}/CDs-100-user-dense.valid.inter').readlines()[1:]}
    test = {l.split('\t')[0]: l.rstrip('\n').split('\t')[2] for l in open(f'{src}/CDs-100-user-dense.test.inter').readlines()[1:]}
    cands = {l.split('\t')[0]: l.rstrip('\n').split('\t')[1].split() for l in open(f'{src}/CDs-100-user-dense.random')}
    n = 0
    for u, h in hist.items():
        for k, i in enumerate(h):
            if rng.random() < p:
                n += 1
                new = f'9{n:06d}'
                items[new] = items[i]
                h[k] = new
    used = set(x for h in hist.values() for x in h) | set(valid.values()) | set(test.values()) | set(x for c in cands.values() for x in c)
    write_split(f'{out}/cds-sparse-p{int(p*100)}', f'cds-sparse-p{int(p*100)}', hist, valid, test, cands, {i: items[i] for i in sorted(used) if i in items})

def ml100(seed):
    rng = random.Random(seed)
    rows = collections.defaultdict(list)
    for line in open(f'{ml}/ml-100k.inter').readlines()[1:]:
        u, i, r, t = line.split('\t')
        rows[u].append((float(t), i))
    items = {}
    for line in open(f'{ml}/ml-100k.item', encoding='utf-8', errors='replace').readlines()[1:]:
        f = line.rstrip('\n').split('\t')
        i, title, year, cls = f[0], f[1], f[2] if len(f) > 2 else '', f[3] if len(f) > 3 else ''
        cats = cls.split()
        if year.strip().isdigit():
            cats.append(f'{int(year) // 10 * 10}s')
        items[i] = (title, '; '.join(cats))
    users = rng.sample(sorted(rows), 100)
    hist, valid, test, cands = {}, {}, {}, {}
    for u in users:
        seq = [i for _, i in sorted(rows[u])][-7:]
        hist[u], valid[u], test[u] = seq[:5], seq[5], seq[6]
        seen = set(i for _, i in rows[u])
        pool = [i for i in items if i not in seen]
        cands[u] = rng.sample(pool, 100)
    used = set(x for h in hist.values() for x in h) | set(valid.values()) | set(test.values()) | set(x for c in cands.values() for x in c)
    write_split(f'{out}/ml100-s{seed}', f'ml100-s{seed}', hist, valid, test, cands, {i: items[i] for i in sorted(used)})

for p in (0.3, 0.6):
    cds_sparse(p)
for s in (1, 2):
    ml100(s)
