//! The relay's own seeded generator: SplitMix64 (Steele, Lea and Flood,
//! 2014). Kept apart from the simulator's generator on purpose, like the
//! rest of the relay, so that the relay's decisions depend on nothing the
//! engine's tests also use.

#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `p`. A draw is made for every `p`, 0 and 1
    /// included, so the sequence of draws depends only on the frames, not
    /// on which faults are switched on.
    pub fn chance(&mut self, p: f64) -> bool {
        let x = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        x < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_reference_outputs() {
        // Seed 1234567 in the reference C implementation.
        let mut r = Rng::new(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
    }

    #[test]
    fn chance_hits_its_rate_and_its_extremes() {
        let mut r = Rng::new(3);
        let hits = (0..100_000).filter(|_| r.chance(0.02)).count();
        assert!((1800..2200).contains(&hits), "{hits}");
        assert!((0..1000).all(|_| !r.chance(0.0)));
        assert!((0..1000).all(|_| r.chance(1.0)));
    }
}
