//! Reading a Prometheus text exposition: samples with their labels, sums over series.

/// One sample line: `name{label="value",...} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// Every sample line of `text` (comments and blank lines skipped). Panics on a line it
/// cannot read: a malformed exposition is a failure of the sensor under test.
pub fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| parse_line(l).unwrap_or_else(|| panic!("unreadable sample line: {l:?}")))
        .collect()
}

fn parse_line(l: &str) -> Option<Sample> {
    let (series, value) = l.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        None => (series.to_string(), Vec::new()),
        Some((name, rest)) => (name.to_string(), parse_labels(rest.strip_suffix('}')?)?),
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// `a="x",b="y\"z"` -> [(a, x), (b, y"z)].
fn parse_labels(mut s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    while !s.is_empty() {
        let (k, rest) = s.split_once("=\"")?;
        let mut v = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => v.push('\n'),
                    c => v.push(c),
                },
                (_, c) => v.push(c),
            }
        };
        out.push((k.to_string(), v));
        s = rest[end + 1..].trim_start_matches(',');
    }
    Some(out)
}

/// The sum of the samples of metric `name` whose labels include every `(key, value)` of
/// `with` (other labels, such as a per-interface one, are summed over).
pub fn sum(text: &str, name: &str, with: &[(&str, &str)]) -> f64 {
    samples(text)
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            with.iter()
                .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|s| s.value)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_names_labels_values() {
        let t = "# HELP x y\n# TYPE x counter\nx 3\ny{a=\"1\",b=\"q\\\"r\"} 2.5\ny{a=\"2\",b=\"s\"} 1\n";
        let s = samples(t);
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].labels[1], ("b".into(), "q\"r".into()));
        assert_eq!(sum(t, "y", &[]), 3.5);
        assert_eq!(sum(t, "y", &[("a", "2")]), 1.0);
        assert_eq!(sum(t, "x", &[]), 3.0);
        assert_eq!(sum(t, "z", &[]), 0.0);
    }
}
