//! What the network does to the simulator's pushes (YClients' booking events,
//! Meta's status callbacks) when told to misbehave: some are lost, some repeated,
//! some held back so that later ones overtake them. Each push's fate is a function
//! of a seed, the push's key and its ordinal among that key's pushes, so a soak's
//! seed decides it rather than the order in which pushes happen to be made.

use std::time::Duration;

/// How often pushes are lost, repeated and reordered, in percent of pushes.
#[derive(Debug, Clone)]
pub struct Chaos {
    pub seed: u64,
    pub lose_percent: u8,
    pub repeat_percent: u8,
    pub reorder_percent: u8,
    /// The longest a reordered push is held back.
    pub hold_max: Duration,
}

/// What becomes of one push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fate {
    /// How many times it is sent: 0 lost, 1 as normal, more repeated.
    pub times: u32,
    /// How long it is held back before it is sent (others go past it meanwhile).
    pub hold: Duration,
}

impl Fate {
    pub const NORMAL: Fate = Fate {
        times: 1,
        hold: Duration::ZERO,
    };
}

impl Chaos {
    /// The fate of the `ordinal`th push with this key.
    pub fn fate(&self, key: &str, ordinal: u32) -> Fate {
        let mut rng = fastrand::Rng::with_seed(
            self.seed
                ^ fnv1a(key.as_bytes())
                ^ u64::from(ordinal).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let roll = |rng: &mut fastrand::Rng, percent: u8| rng.u8(0..100) < percent;
        let times = if roll(&mut rng, self.lose_percent) {
            0
        } else if roll(&mut rng, self.repeat_percent) {
            rng.u32(2..=3)
        } else {
            1
        };
        let hold = if roll(&mut rng, self.reorder_percent) && !self.hold_max.is_zero() {
            Duration::from_millis(rng.u64(1..=self.hold_max.as_millis() as u64))
        } else {
            Duration::ZERO
        };
        Fate { times, hold }
    }
}

/// A stable hash of the key (std's hasher may change between Rust releases, and a
/// seed must replay on the next one).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chaos() -> Chaos {
        Chaos {
            seed: 7,
            lose_percent: 20,
            repeat_percent: 20,
            reorder_percent: 20,
            hold_max: Duration::from_secs(2),
        }
    }

    #[test]
    fn a_fate_depends_on_the_seed_key_and_ordinal_alone() {
        let fates: Vec<Fate> = (0..50).map(|n| chaos().fate("record 1001", n)).collect();
        let again: Vec<Fate> = (0..50).map(|n| chaos().fate("record 1001", n)).collect();
        assert_eq!(fates, again);
        let other = Chaos { seed: 8, ..chaos() };
        let differ = (0..50).filter(|n| other.fate("record 1001", *n) != fates[*n as usize]);
        assert!(differ.count() > 0);
    }

    #[test]
    fn every_fate_occurs_near_its_share() {
        let fates: Vec<Fate> = (0..2_000).map(|n| chaos().fate("k", n)).collect();
        let lost = fates.iter().filter(|f| f.times == 0).count();
        let repeated = fates.iter().filter(|f| f.times > 1).count();
        let held = fates.iter().filter(|f| !f.hold.is_zero()).count();
        assert!((300..500).contains(&lost), "{lost} lost");
        assert!((240..400).contains(&repeated), "{repeated} repeated");
        assert!((300..500).contains(&held), "{held} held");
        assert!(fates.iter().all(|f| f.hold <= Duration::from_secs(2)));
    }
}
