//! 64-bit FNV-1a: a tiny, stable hash for what must never change between platforms or releases
//! (hashed text features, deterministic splits, data fingerprints).

/// An FNV-1a hasher.
#[derive(Clone, Copy, Debug)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    /// Feeds bytes.
    #[inline]
    pub fn update(&mut self, bytes: &[u8]) -> &mut Self {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }

    /// The hash as 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }

    /// The hash of one byte string.
    pub fn of(bytes: &[u8]) -> u64 {
        Fnv1a::default().update(bytes).finish()
    }

    /// Whether `key` falls in the first `fraction` of hash space: a stable, order-free way to
    /// pick a share of ids or texts.
    pub fn in_share(key: &[u8], fraction: f64) -> bool {
        Fnv1a::of(key) % 10_000 < (fraction * 10_000.0) as u64
    }

    /// Like [`Fnv1a::in_share`], for a second split that must not follow the first: `salt`
    /// names the split, and the hash of salt and key is scrambled (the SplitMix64 finaliser)
    /// before it is reduced, so which keys fall in the share is unrelated to `in_share(key)`.
    /// Used to set aside validation rows within rows that `in_share` already kept for training.
    pub fn in_salted_share(salt: &[u8], key: &[u8], fraction: f64) -> bool {
        Fnv1a::salted(salt, key) % 10_000 < (fraction * 10_000.0) as u64
    }

    /// Which of `buckets` (≥ 1) `key` falls in, for a split named by `salt`: the same scrambled
    /// hash as [`Fnv1a::in_salted_share`], reduced modulo `buckets`. Used to deal customers into
    /// cross-validation folds.
    pub fn salted_bucket(salt: &[u8], key: &[u8], buckets: usize) -> usize {
        (Fnv1a::salted(salt, key) % buckets.max(1) as u64) as usize
    }

    /// FNV-1a of salt, 0xff, key, scrambled by SplitMix64's finaliser.
    fn salted(salt: &[u8], key: &[u8]) -> u64 {
        let mut hash = Fnv1a::default();
        hash.update(salt).update(&[0xff]).update(key);
        let mut z = hash.finish();
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_vectors() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(Fnv1a::of(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fnv1a::of(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Fnv1a::of(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn a_salted_share_is_independent_of_the_plain_one() {
        // Among the keys outside the plain 30% share, a salted 20% share still takes about 20%,
        // and a different salt picks different keys.
        let keys: Vec<String> = (0..20_000).map(|i| format!("{i:05}")).collect();
        let kept: Vec<&String> = keys
            .iter()
            .filter(|k| !Fnv1a::in_share(k.as_bytes(), 0.3))
            .collect();
        let share = |salt: &[u8]| {
            kept.iter()
                .filter(|k| Fnv1a::in_salted_share(salt, k.as_bytes(), 0.2))
                .count() as f64
                / kept.len() as f64
        };
        let (a, b) = (share(b"a"), share(b"b"));
        assert!(
            (a - 0.2).abs() < 0.015 && (b - 0.2).abs() < 0.015,
            "{a} {b}"
        );
        let same = kept
            .iter()
            .filter(|k| {
                Fnv1a::in_salted_share(b"a", k.as_bytes(), 0.2)
                    && Fnv1a::in_salted_share(b"b", k.as_bytes(), 0.2)
            })
            .count() as f64
            / kept.len() as f64;
        assert!((same - 0.04).abs() < 0.01, "{same}");
    }

    #[test]
    fn salted_buckets_are_even_and_follow_the_salted_share() {
        let keys: Vec<String> = (0..20_000).map(|i| format!("{i:05}")).collect();
        let mut counts = [0usize; 5];
        for k in &keys {
            counts[Fnv1a::salted_bucket(b"a", k.as_bytes(), 5)] += 1;
        }
        assert!(
            counts.iter().all(|&n| (3_800..4_200).contains(&n)),
            "{counts:?}"
        );
        // With 10,000 buckets, the first 1,000 are exactly the salted 10% share.
        for k in keys.iter().take(2_000) {
            assert_eq!(
                Fnv1a::salted_bucket(b"a", k.as_bytes(), 10_000) < 1_000,
                Fnv1a::in_salted_share(b"a", k.as_bytes(), 0.1)
            );
        }
        assert_eq!(Fnv1a::salted_bucket(b"a", b"x", 0), 0);
    }
}
