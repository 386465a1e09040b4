//! The offline text embedder: hashed word and character-trigram features with TF-IDF weights in a
//! fixed dimension. Deterministic, no model, good enough to tell "Bebop" near "Hard Bop" and far
//! from "Death Metal".

use crate::util::fnv1a;
use std::collections::HashMap;

#[derive(Debug, Clone)]
pub struct Embedder {
    dim: usize,
    idf: HashMap<u64, f32>,
    unseen_idf: f32,
}

fn features(text: &str, mut f: impl FnMut(u64, f32)) {
    let lower = text.to_lowercase();
    for word in lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        f(fnv1a(word.as_bytes()), 1.0);
        let padded: Vec<char> = format!("#{word}#").chars().collect();
        for w in padded.windows(3) {
            let tri: String = w.iter().collect();
            f(fnv1a(format!("3:{tri}").as_bytes()), 0.5);
        }
    }
}

impl Embedder {
    /// Learn IDF weights from a corpus of phrases (one document each).
    pub fn new(dim: usize, corpus: &[String]) -> Embedder {
        let mut df: HashMap<u64, u32> = HashMap::new();
        for doc in corpus {
            let mut seen = Vec::new();
            features(doc, |h, _| seen.push(h));
            seen.sort_unstable();
            seen.dedup();
            for h in seen {
                *df.entry(h).or_insert(0) += 1;
            }
        }
        let n = corpus.len() as f32;
        let idf = df.into_iter().map(|(h, d)| (h, ((1.0 + n) / (1.0 + d as f32)).ln() + 1.0)).collect();
        Embedder { dim, idf, unseen_idf: (1.0 + n).ln() + 1.0 }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Unit-length embedding of a phrase (all zeros for text without words).
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0.0f32; self.dim];
        features(text, |h, tf| {
            let idf = self.idf.get(&h).copied().unwrap_or(self.unseen_idf);
            let sign = if h >> 63 == 1 { -1.0 } else { 1.0 };
            v[(h % self.dim as u64) as usize] += sign * tf * idf;
        });
        normalize(&mut v);
        v
    }
}

pub fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Dot product with eight independent partial sums, so the compiler can vectorise it (a single
/// running sum cannot be reordered). The propagation scan spends most of its time here.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Cosine similarity; 0 when either side is all zeros.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let na = dot(a, a).sqrt();
    let nb = dot(b, b).sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        (dot(a, b) / (na * nb)) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn related_phrases_are_closer_than_unrelated() {
        let corpus: Vec<String> = ["Jazz", "Bebop", "Hard Bop", "Bop", "Death Metal", "Metal", "Pop", "Classical"].iter().map(|s| s.to_string()).collect();
        let e = Embedder::new(128, &corpus);
        let bop = e.embed("Bop");
        assert!(cosine(&bop, &e.embed("Hard Bop")) > cosine(&bop, &e.embed("Death Metal")));
        assert!(cosine(&e.embed("Metal"), &e.embed("Death Metal")) > 0.3);
        assert!((cosine(&bop, &bop) - 1.0).abs() < 1e-5);
        assert_eq!(e.embed("Bop"), e.embed("bop"));
        assert_eq!(cosine(&e.embed("  "), &bop), 0.0);
    }
}
