//! How the spare budget is shared among busy salons. Polling a salon whose
//! bookings come at rate `λ` every `1/f` finds each one `1/(2f)` late on average;
//! for a fixed number of polls the total wait `Σ λᵢ/(2fᵢ)` is least when `fᵢ ∝ √λᵢ`
//! (Cho & Garcia-Molina, "Effective page refresh policies for Web crawlers", 2003:
//! the square-root rule).

/// Each busy salon's polls a second, from its activity (bookings created or changed
/// lately): `∝ √activity`, never fewer than `base` (its interval), never more
/// than `cap` (its least gap), all together no more than their `base` each plus
/// `spare`.
pub fn rates(activity: &[f64], base: f64, cap: f64, spare: f64) -> Vec<f64> {
    let n = activity.len() as f64;
    if cap <= base || spare <= 0.0 {
        return vec![base; activity.len()];
    }
    let total = base * n + spare;
    if cap * n <= total {
        return vec![cap; activity.len()];
    }
    let roots: Vec<f64> = activity
        .iter()
        .map(|a| a.max(f64::MIN_POSITIVE).sqrt())
        .collect();
    let share =
        |scale: f64| -> Vec<f64> { roots.iter().map(|r| (scale * r).clamp(base, cap)).collect() };
    let sum = |scale: f64| share(scale).iter().sum::<f64>();
    // At `high` every salon is at its cap, which is more than the total: the scale
    // that spends the total lies below it, and the sum grows with the scale.
    let least = roots.iter().copied().fold(f64::INFINITY, f64::min);
    let (mut low, mut high) = (0.0, cap / least);
    for _ in 0..64 {
        let mid = (low + high) / 2.0;
        if sum(mid) > total {
            high = mid;
        } else {
            low = mid;
        }
    }
    share(low)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn the_rates_follow_the_square_root_of_the_activity() {
        // Base 1/60 s, cap 1/5 s; spare enough for neither to reach the cap.
        let r = rates(&[1.0, 4.0], 1.0 / 60.0, 0.2, 0.1);
        assert!(close(r[1], 2.0 * r[0]), "{r:?}");
        assert!(
            close(r.iter().sum(), 2.0 / 60.0 + 0.1),
            "the spare is spent: {r:?}"
        );
    }

    #[test]
    fn no_salon_is_polled_more_often_than_its_cap_or_less_than_its_base() {
        let r = rates(&[1.0, 100.0, 10_000.0], 1.0 / 60.0, 0.2, 0.3);
        assert!(
            r.iter().all(|f| *f <= 0.2 + 1e-12 && *f >= 1.0 / 60.0),
            "{r:?}"
        );
        assert!(close(r[2], 0.2), "the busiest is capped: {r:?}");
        assert!(r.iter().sum::<f64>() <= 3.0 / 60.0 + 0.3 + 1e-9, "{r:?}");
        // A plentiful spare: every busy salon at its cap, the rest unspent.
        assert_eq!(rates(&[1.0, 2.0], 1.0 / 60.0, 0.2, 100.0), vec![0.2, 0.2]);
    }

    #[test]
    fn without_spare_or_room_under_the_cap_every_salon_keeps_its_interval() {
        assert_eq!(rates(&[5.0], 1.0 / 60.0, 0.2, 0.0), vec![1.0 / 60.0]);
        // An interval already shorter than the least gap.
        assert_eq!(rates(&[5.0], 1.0, 0.2, 10.0), vec![1.0]);
        assert!(rates(&[], 1.0, 2.0, 1.0).is_empty());
    }
}
