//! A small seeded generator (SplitMix64) so that inputs are identical on every machine and
//! every backend for a given seed and point, with no dependency on a rand crate's versioning.

/// SplitMix64: fast, statistically sound for test data, and fully specified.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// A generator for one named stream of a point, so adding an input never shifts another.
    pub fn for_stream(seed: u64, stream: &str) -> Self {
        // FNV-1a of the stream name, mixed into the seed.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in stream.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Rng::new(seed ^ h.rotate_left(17))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next_f64() as f32
    }

    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// `n` values uniform in [-scale, scale), never exactly zero.
    pub fn fill(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n)
            .map(|_| loop {
                let v = self.uniform(-scale, scale);
                if v != 0.0 {
                    break v;
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::for_stream(7, "a").next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Rng::for_stream(7, "a").next_u64(),
            Rng::for_stream(7, "b").next_u64()
        );
        assert_ne!(
            Rng::for_stream(7, "a").next_u64(),
            Rng::for_stream(8, "a").next_u64()
        );
    }

    #[test]
    fn uniform_has_the_right_moments() {
        let mut r = Rng::new(1);
        let v = r.fill(100_000, 1.0);
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0 / 3.0).abs() < 0.01, "var {var}");
        assert!(v.iter().all(|&x| x != 0.0 && (-1.0..1.0).contains(&x)));
        let ints: Vec<u64> = (0..1000).map(|_| r.below(10)).collect();
        assert!(ints.iter().all(|&i| i < 10));
        assert!((0..10).all(|k| ints.contains(&k)));
    }
}
