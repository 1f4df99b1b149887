//! Multinomial logistic regression with L2, fit by L-BFGS (deterministic: fixed
//! order of every sum, no randomness). The objective is scikit-learn's:
//! `C * sum_i w_i * -log p(y_i | x_i) + 1/2 * |W|^2`, intercepts not penalised. Rows
//! are sparse binary: a list of feature indices.

/// One training row.
pub struct Sample<'a> {
    pub x: &'a [u32],
    pub y: usize,
    pub w: f64,
}

/// A fitted model: `coef[c][j]`, `intercept[c]`.
#[derive(Clone, Debug)]
pub struct Fit {
    pub coef: Vec<Vec<f64>>,
    pub intercept: Vec<f64>,
    pub iterations: usize,
    #[allow(dead_code)] // for reports and debugging
    pub objective: f64,
}

impl Fit {
    /// Raw logits (no prior shift, no temperature).
    pub fn logits(&self, x: &[u32]) -> Vec<f64> {
        let mut z = self.intercept.clone();
        for (c, zc) in z.iter_mut().enumerate() {
            for &j in x {
                *zc += self.coef[c][j as usize];
            }
        }
        z
    }
}

fn objective(
    theta: &[f64],
    rows: &[Sample],
    k: usize,
    v: usize,
    c: f64,
    present: &[bool],
    g: &mut [f64],
) -> f64 {
    g.iter_mut().for_each(|x| *x = 0.0);
    let (w, b) = theta.split_at(k * v);
    let mut f = 0.0;
    let mut z = vec![0.0; k];
    for r in rows {
        for cl in 0..k {
            let mut s = b[cl];
            for &j in r.x {
                s += w[cl * v + j as usize];
            }
            z[cl] = if present[cl] { s } else { f64::NEG_INFINITY };
        }
        let mx = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for zc in &z {
            sum += (zc - mx).exp();
        }
        let lse = mx + sum.ln();
        f += c * r.w * (lse - z[r.y]);
        for cl in 0..k {
            if !present[cl] {
                continue;
            }
            let p = (z[cl] - lse).exp();
            let d = c * r.w * (p - if cl == r.y { 1.0 } else { 0.0 });
            for &j in r.x {
                g[cl * v + j as usize] += d;
            }
            g[k * v + cl] += d;
        }
    }
    for i in 0..k * v {
        f += 0.5 * theta[i] * theta[i];
        g[i] += theta[i];
    }
    f
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Fits `k` classes over `v` features. Classes without a row keep zero weights and
/// get a logit of -30 (as if never seen).
pub fn fit(rows: &[Sample], k: usize, v: usize, c: f64, max_iter: usize) -> Fit {
    let mut present = vec![false; k];
    for r in rows {
        present[r.y] = true;
    }
    let n = k * v + k;
    let mut x = vec![0.0; n];
    let mut g = vec![0.0; n];
    let mut f = objective(&x, rows, k, v, c, &present, &mut g);
    let m = 10;
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut it = 0;
    let scale = rows.iter().map(|r| r.w).sum::<f64>() * c;
    while it < max_iter {
        it += 1;
        let gmax = g.iter().fold(0.0f64, |a, b| a.max(b.abs()));
        if gmax < 1e-7 * scale.max(1.0) {
            break;
        }
        // Two-loop recursion.
        let mut q = g.clone();
        let mut alpha = vec![0.0; s_hist.len()];
        for i in (0..s_hist.len()).rev() {
            let rho = 1.0 / dot(&y_hist[i], &s_hist[i]);
            alpha[i] = rho * dot(&s_hist[i], &q);
            for (qj, yj) in q.iter_mut().zip(&y_hist[i]) {
                *qj -= alpha[i] * yj;
            }
        }
        if let (Some(s), Some(y)) = (s_hist.last(), y_hist.last()) {
            let gamma = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|v| *v *= gamma);
        } else {
            let gn = dot(&g, &g).sqrt().max(1e-12);
            q.iter_mut().for_each(|v| *v /= gn);
        }
        for i in 0..s_hist.len() {
            let rho = 1.0 / dot(&y_hist[i], &s_hist[i]);
            let beta = rho * dot(&y_hist[i], &q);
            for (qj, sj) in q.iter_mut().zip(&s_hist[i]) {
                *qj += sj * (alpha[i] - beta);
            }
        }
        // Direction d = -q; backtracking line search (Armijo).
        let gd = -dot(&g, &q);
        if gd >= 0.0 {
            s_hist.clear();
            y_hist.clear();
            continue;
        }
        let mut step = 1.0;
        let mut xn = vec![0.0; n];
        let mut gn = vec![0.0; n];
        let mut fn_;
        loop {
            for i in 0..n {
                xn[i] = x[i] - step * q[i];
            }
            fn_ = objective(&xn, rows, k, v, c, &present, &mut gn);
            if fn_ <= f + 1e-4 * step * gd || step < 1e-12 {
                break;
            }
            step *= 0.5;
        }
        let s: Vec<f64> = (0..n).map(|i| xn[i] - x[i]).collect();
        let y: Vec<f64> = (0..n).map(|i| gn[i] - g[i]).collect();
        let improvement = f - fn_;
        x = xn;
        g = gn;
        let f_old = f;
        f = fn_;
        if dot(&s, &y) > 1e-12 {
            s_hist.push(s);
            y_hist.push(y);
            if s_hist.len() > m {
                s_hist.remove(0);
                y_hist.remove(0);
            }
        }
        if improvement.abs() <= 1e-13 * f_old.abs().max(1.0) {
            break;
        }
    }
    let coef = (0..k).map(|cl| x[cl * v..(cl + 1) * v].to_vec()).collect();
    let intercept = (0..k)
        .map(|cl| if present[cl] { x[k * v + cl] } else { -30.0 })
        .collect();
    Fit {
        coef,
        intercept,
        iterations: it,
        objective: f,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_classes_are_learnt_and_regularised() {
        // Feature 0 -> class 0, feature 1 -> class 1, feature 2 is noise.
        let xs: Vec<Vec<u32>> = vec![vec![0, 2], vec![0], vec![1, 2], vec![1]];
        let ys = [0, 0, 1, 1];
        let rows: Vec<Sample> = xs
            .iter()
            .zip(ys)
            .map(|(x, y)| Sample { x, y, w: 1.0 })
            .collect();
        let m = fit(&rows, 3, 3, 1.0, 500);
        let z0 = m.logits(&[0]);
        let z1 = m.logits(&[1]);
        assert!(z0[0] > z0[1] && z1[1] > z1[0]);
        assert_eq!(m.intercept[2], -30.0, "absent class");
        // L2 keeps the weights finite on separable data.
        assert!(m.coef[0][0].abs() < 10.0);
        // The noise feature is shared by both classes: its weights cancel.
        assert!((m.coef[0][2] - m.coef[1][2]).abs() < 1e-3);
    }
}
