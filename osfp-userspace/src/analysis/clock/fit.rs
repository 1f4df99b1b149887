//! Per-connection clock fit: TSval against capture time. Robust (Theil–Sen, then a
//! least-squares refit on the points near that line) because repeated TSvals
//! (retransmissions), reordering and odd samples are normal on real links.

/// Rates real stacks use (Hz); a fit close enough to one of them is snapped to it.
pub const COMMON_HZ: [f64; 7] = [1.0, 2.0, 10.0, 100.0, 250.0, 300.0, 1000.0];

/// TSval is 32 bits: the clock wraps after this many ticks.
pub const TS_PERIOD: f64 = 4_294_967_296.0;

/// Network and scheduling jitter allowed around the line (seconds of clock time).
const JITTER_S: f64 = 0.02;

/// A fitted line `y = intercept + slope * t`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    pub slope: f64,
    pub intercept: f64,
    /// Points within the acceptance band, and all points.
    pub inliers: usize,
    pub n: usize,
    /// Standard error of the slope from the inliers' residuals (0 with two inliers).
    pub se_slope: f64,
    /// Time span of the inliers.
    pub span: f64,
}

fn median(v: &mut [f64]) -> f64 {
    let mid = v.len() / 2;
    let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let m = *m;
    if v.len() % 2 == 1 {
        m
    } else {
        // The largest of the lower half.
        let lo = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo + m) / 2.0
    }
}

/// Fits `pts` (t seconds, y ticks). `tick_tol` is the quantisation allowance in ticks.
/// None when there are fewer than two points or no time span.
pub fn robust_line(pts: &[(f64, f64)], tick_tol: f64) -> Option<Line> {
    let n = pts.len();
    if n < 2 {
        return None;
    }
    let tmin = pts.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let tmax = pts.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let span = tmax - tmin;
    if span.is_nan() || span <= 0.0 {
        return None;
    }
    // Pairs closer in time than a tenth of the span mostly measure quantisation.
    let min_dt = span / 10.0;
    let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let dt = pts[j].0 - pts[i].0;
            if dt.abs() >= min_dt {
                slopes.push((pts[j].1 - pts[i].1) / dt);
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    let b = median(&mut slopes);
    let mut res: Vec<f64> = pts.iter().map(|&(t, y)| y - b * t).collect();
    let a = median(&mut res);
    let mut abs_res: Vec<f64> = pts.iter().map(|&(t, y)| (y - a - b * t).abs()).collect();
    let mad = 1.4826 * median(&mut abs_res);
    let band = (4.0 * mad).max(tick_tol + JITTER_S * b.abs());
    let inl: Vec<(f64, f64)> = pts
        .iter()
        .copied()
        .filter(|&(t, y)| (y - a - b * t).abs() <= band)
        .collect();
    let k = inl.len();
    let tm = inl.iter().map(|p| p.0).sum::<f64>() / k as f64;
    let ym = inl.iter().map(|p| p.1).sum::<f64>() / k as f64;
    let sxx: f64 = inl.iter().map(|p| (p.0 - tm).powi(2)).sum();
    let itmin = inl.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let itmax = inl.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    if k < 2 || sxx.is_nan() || sxx <= 0.0 {
        return Some(Line {
            slope: b,
            intercept: a,
            inliers: k,
            n,
            se_slope: f64::INFINITY,
            span: (itmax - itmin).max(0.0),
        });
    }
    let sxy: f64 = inl.iter().map(|p| (p.0 - tm) * (p.1 - ym)).sum();
    let slope = sxy / sxx;
    let intercept = ym - slope * tm;
    let se_slope = if k > 2 {
        let rss: f64 = inl
            .iter()
            .map(|p| (p.1 - intercept - slope * p.0).powi(2))
            .sum();
        (rss / (k - 2) as f64 / sxx).sqrt()
    } else {
        0.0
    };
    Some(Line {
        slope,
        intercept,
        inliers: k,
        n,
        se_slope,
        span: itmax - itmin,
    })
}

/// Relative uncertainty of a line's slope: the larger of its standard error and one
/// tick plus the allowed jitter over the span (with few points the standard error
/// says little: two points always fit exactly, however late one was captured).
pub fn rel_err(l: &Line) -> f64 {
    if l.slope.is_nan() || l.slope <= 0.0 || l.span.is_nan() || l.span <= 0.0 {
        return f64::INFINITY;
    }
    (l.se_slope / l.slope).max((1.0 / l.slope + JITTER_S) / l.span)
}

/// Quality in 0..1: inlier share, slope precision (1 % relative error gives e^-1) and
/// number of inliers (four or more count fully).
pub fn quality(l: &Line) -> f64 {
    let r = rel_err(l);
    if !r.is_finite() {
        return 0.0;
    }
    let frac = l.inliers as f64 / l.n as f64;
    let count = (l.inliers as f64 / 4.0).min(1.0);
    (frac * (-r / 0.01).exp() * count).clamp(0.0, 1.0)
}

/// The common rate within max(1 %, 3 × relative error) of `raw`, at most 5 % off.
pub fn snap(raw: f64, rel_err: f64) -> Option<f64> {
    let tol = (3.0 * rel_err).clamp(0.01, 0.05);
    COMMON_HZ
        .iter()
        .copied()
        .find(|&r| ((raw - r) / r).abs() <= tol)
}

/// A rate estimate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    pub hz_raw: f64,
    /// Snapped rate, or the raw one when no common rate is close.
    pub hz: f64,
    pub snapped: bool,
    pub quality: f64,
    pub rel_err: f64,
    /// Predicted TSval (unwrapped, relative to the series' first TSval) at its first time.
    pub y0: f64,
    pub inliers: usize,
    pub n: usize,
}

impl Fit {
    pub fn from_line(l: &Line) -> Option<Fit> {
        if !l.slope.is_finite() || l.slope <= 0.0 {
            return None;
        }
        let r = rel_err(l);
        let s = snap(l.slope, r);
        Some(Fit {
            hz_raw: l.slope,
            hz: s.unwrap_or(l.slope),
            snapped: s.is_some(),
            quality: quality(l),
            rel_err: r,
            y0: l.intercept,
            inliers: l.inliers,
            n: l.n,
        })
    }
}

/// The TSval series of one connection direction. Memory is bounded by `cap`: when
/// full, every other point is dropped and later points are kept at a doubled stride,
/// so the kept points stay spread over the whole connection; the newest point is
/// always kept as well.
#[derive(Clone, Debug)]
pub struct Series {
    /// Capture time and TSval of the first point: the series' origin.
    pub t0_ns: u64,
    pub tsval0: u32,
    pub last_ns: u64,
    last_raw: u32,
    /// Unwrapped TSval of the last point, relative to `tsval0`.
    last_unwrapped: i64,
    pts: Vec<(f64, f64)>,
    newest: Option<(f64, f64)>,
    cap: usize,
    stride: u32,
    arrivals: u32,
}

impl Series {
    pub fn new(ts_ns: u64, tsval: u32, cap: usize) -> Series {
        let cap = cap.max(4);
        // Grows on demand: most series stay short.
        let pts = vec![(0.0, 0.0)];
        Series {
            t0_ns: ts_ns,
            tsval0: tsval,
            last_ns: ts_ns,
            last_raw: tsval,
            last_unwrapped: 0,
            pts,
            newest: None,
            cap,
            stride: 1,
            arrivals: 1,
        }
    }

    /// Adds a point. TSval wrap-around and reordering are unwrapped against the
    /// previous point (a signed 32-bit step: any step under 2^31 ticks either way).
    pub fn push(&mut self, ts_ns: u64, tsval: u32) {
        let step = tsval.wrapping_sub(self.last_raw) as i32 as i64;
        self.last_raw = tsval;
        self.last_unwrapped += step;
        self.last_ns = self.last_ns.max(ts_ns);
        // The difference as i64 (exact within ±292 years): i128 to f64 is a library
        // call, per clock event.
        let t = ts_ns.wrapping_sub(self.t0_ns) as i64 as f64 / 1e9;
        let p = (t, self.last_unwrapped as f64);
        self.arrivals += 1;
        if !self.arrivals.is_multiple_of(self.stride) {
            self.newest = Some(p);
            return;
        }
        self.newest = None;
        if self.pts.len() == self.cap {
            let mut i = 0;
            self.pts.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.stride *= 2;
        }
        self.pts.push(p);
    }

    pub fn len(&self) -> usize {
        self.pts.len() + self.newest.is_some() as usize
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The last TSval seen.
    pub fn last_raw(&self) -> u32 {
        self.last_raw
    }

    pub fn points(&self) -> Vec<(f64, f64)> {
        let mut v = self.pts.clone();
        v.extend(self.newest);
        v
    }

    /// Rate fit; None with fewer than two points, under 0.5 s of span, or a clock that
    /// does not advance.
    pub fn fit(&self) -> Option<Fit> {
        let pts = self.points();
        let line = robust_line(&pts, 2.0)?;
        if line.span < 0.5 {
            return None;
        }
        Fit::from_line(&line)
    }

    /// The lower envelope at rate `hz`: the largest `y - hz * t` over the points within
    /// 100 ms of the line `y0 + hz * t`. Capture can only delay a packet after its TSval
    /// was stamped, so the least delayed point places the clock best.
    pub fn envelope_y0(&self, hz: f64, y0: f64) -> f64 {
        let band = 2.0 + 0.1 * hz;
        self.points()
            .iter()
            .map(|&(t, y)| y - hz * t)
            .filter(|v| (v - y0).abs() <= band)
            .fold(f64::NEG_INFINITY, f64::max)
            .max(y0 - band)
    }

    /// Bytes this series holds (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.pts.capacity() * std::mem::size_of::<(f64, f64)>()
    }
}

#[cfg(test)]
pub(crate) mod tests_rng {
    /// Small deterministic generator (xorshift) so the tests need no extra crate.
    pub struct Rng(pub u64);
    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        /// Uniform in [0, 1).
        pub fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::tests_rng::Rng;

    /// TSval of a clock at `hz` that read `tsval_at_t0` at time t0, `t` seconds later.
    fn tsval(hz: f64, tsval_at_t0: u32, t: f64) -> u32 {
        (tsval_at_t0 as f64 + (hz * t).floor()) as u64 as u32
    }

    struct Case {
        hz: f64,
        start: u32,
        n: usize,
        interval: f64,
        jitter_s: f64,
        loss: f64,
        /// Retransmissions repeating the previous TSval.
        outliers: usize,
        /// Packets with a random TSval (corruption, another host's packet).
        garbage: usize,
    }

    fn run(c: &Case, seed: u64) -> (Series, Vec<(u64, u32)>) {
        let mut rng = Rng(seed);
        let t0: u64 = 1_700_000_000_000_000_000;
        let mut s: Option<Series> = None;
        let mut fed = Vec::new();
        for i in 0..c.n {
            if i > 0 && rng.unit() < c.loss {
                continue;
            }
            let t = i as f64 * c.interval;
            // The packet left at t; capture sees it after a random delay.
            let mut v = tsval(c.hz, c.start, t);
            let delay = rng.unit() * c.jitter_s;
            if c.outliers > 0 && i > 0 && i % (c.n / c.outliers) == 0 {
                // A retransmission that repeats the previous TSval.
                v = fed.last().map(|f: &(u64, u32)| f.1).unwrap_or(v);
            }
            if c.garbage > 0 && i > 0 && i % (c.n / c.garbage) == 1 {
                v = rng.next() as u32;
            }
            let ts = t0 + ((t + delay) * 1e9) as u64;
            fed.push((ts, v));
            match &mut s {
                None => s = Some(Series::new(ts, v, 32)),
                Some(s) => s.push(ts, v),
            }
        }
        (s.unwrap(), fed)
    }

    #[test]
    fn rates_recovered_within_half_percent() {
        let cases = [
            (1000.0, 12_345, 0.005),
            (100.0, 77, 0.01),
            (250.0, 4_000_000_000, 0.002),
            (10.0, 9, 0.05),
            (1.0, 3, 0.05),
        ];
        for (k, &(hz, start, jitter)) in cases.iter().enumerate() {
            // Slow clocks need a longer connection to resolve their rate.
            let interval = if hz < 10.0 { 20.0 } else { 1.0 };
            let c = Case {
                hz,
                start,
                n: 60,
                interval,
                jitter_s: jitter,
                loss: 0.2,
                outliers: 4,
                garbage: 3,
            };
            let (s, _) = run(&c, 0x1234_5678 + k as u64);
            let f = s.fit().expect("fit");
            let err = (f.hz_raw - hz).abs() / hz;
            assert!(err < 0.005, "hz {hz}: raw {} (err {err})", f.hz_raw);
            assert!(f.snapped && f.hz == hz, "hz {hz}: snapped to {}", f.hz);
            // The clock read `start` at T0: its zero time is T0 - start/hz, within 1 s
            // (and within two ticks plus the jitter).
            let truth = 1_700_000_000.0 - start as f64 / hz;
            let zero = s.t0_ns as f64 / 1e9 - (s.tsval0 as f64 + s.envelope_y0(f.hz, f.y0)) / hz;
            let zerr = (zero - truth).abs();
            assert!(zerr < 1.0, "hz {hz}: zero time off by {zerr} s");
            assert!(
                zerr < 2.0 / hz + jitter,
                "hz {hz}: zero time off by {zerr} s"
            );
            assert!(f.quality > 0.2, "hz {hz}: quality {}", f.quality);
        }
    }

    #[test]
    fn wraparound_is_unwrapped() {
        // Starts 3 s before the 32-bit wrap of a 1000 Hz clock, runs 20 s.
        let c = Case {
            hz: 1000.0,
            start: u32::MAX - 3000,
            n: 20,
            interval: 1.0,
            jitter_s: 0.002,
            loss: 0.0,
            outliers: 0,
            garbage: 0,
        };
        let (s, fed) = run(&c, 99);
        assert!(fed.iter().any(|f| f.1 < 100_000), "the series must wrap");
        let f = s.fit().unwrap();
        assert!((f.hz_raw - 1000.0).abs() < 1.0, "{}", f.hz_raw);
        // The line's value at the start is the first TSval, not 2^32 away.
        assert!(f.y0.abs() < 10.0, "y0 {}", f.y0);
    }

    #[test]
    fn reordering_and_retransmissions_do_not_move_the_rate() {
        let t0 = 1_000_000_000u64;
        let mut s = Series::new(t0, 1_000, 32);
        // Points 2 and 3 swapped in capture order; 5 repeated 3 s later (retransmit).
        let order = [2u64, 1, 3, 4, 5, 6, 7, 8, 9, 10];
        for i in order {
            s.push(t0 + i * 1_000_000_000, 1_000 + 1000 * i as u32);
        }
        s.push(t0 + 8_500_000_000, 6_000);
        s.push(t0 + 9_500_000_000, 6_000);
        let f = s.fit().unwrap();
        assert!((f.hz_raw - 1000.0).abs() < 0.5, "{}", f.hz_raw);
        assert_eq!(f.n - f.inliers, 2, "the two repeats are the outliers");
    }

    #[test]
    fn memory_is_capped_and_points_stay_spread() {
        let mut s = Series::new(0, 0, 16);
        for i in 1..1000u64 {
            s.push(i * 100_000_000, (i * 100) as u32);
        }
        assert!(s.len() <= 17, "kept {}", s.len());
        let pts = s.points();
        let last = pts.iter().map(|p| p.0).fold(0.0, f64::max);
        assert!(last > 99.0, "the newest point is kept: {last}");
        let f = s.fit().unwrap();
        assert!((f.hz_raw - 1000.0).abs() < 0.01);
    }

    #[test]
    fn too_little_data_gives_no_rate() {
        let mut s = Series::new(0, 5, 16);
        assert!(s.fit().is_none());
        s.push(100_000_000, 105);
        assert!(s.fit().is_none(), "0.1 s is too short");
        let mut c = Series::new(0, 5, 16);
        for i in 1..10 {
            c.push(i * 1_000_000_000, 5);
        }
        assert!(
            c.fit().is_none(),
            "a clock that does not advance has no rate"
        );
    }

    #[test]
    fn snapping_needs_closeness() {
        assert_eq!(snap(1003.0, 0.001), Some(1000.0));
        assert_eq!(snap(1100.0, 0.001), None);
        assert_eq!(snap(275.0, 0.001), None);
        assert_eq!(snap(99.2, 0.002), Some(100.0));
        assert_eq!(snap(1.92, 0.02), Some(2.0));
    }
}
