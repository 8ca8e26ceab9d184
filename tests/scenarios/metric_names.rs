//! Which metrics and labels a PromQL expression reads, and which ones a `/metrics` page
//! exports: the two sides the observability scenario compares. Deliberately small: it knows
//! just enough PromQL (strings, selectors, ranges, grouping clauses, functions, keywords,
//! Grafana's `$variables`) to tell a metric name from everything else.

use std::collections::{BTreeMap, BTreeSet};

/// What one expression reads.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Metric names as written (`alter_verify_seconds_bucket`), with the label names their
    /// selectors match on.
    pub metrics: BTreeMap<String, BTreeSet<String>>,
    /// Label names of `by`, `without`, `on`, `ignoring`, `group_left`, `group_right` clauses.
    pub grouping: BTreeSet<String>,
    /// (label, value) of every selector's matchers, the value as written (a regex for `=~`).
    pub values: BTreeSet<(String, String)>,
}

/// What a selector `{...}` holds.
#[derive(Default)]
struct Matchers {
    labels: BTreeSet<String>,
    name: Option<String>,
    values: Vec<(String, String)>,
}

const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

struct Scanner<'a> {
    chars: Vec<char>,
    at: usize,
    expr: &'a str,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn next_non_space(&self) -> Option<char> {
        self.chars[self.at..]
            .iter()
            .copied()
            .find(|c| !c.is_whitespace())
    }

    fn ident(&mut self) -> String {
        let start = self.at;
        while self.peek().is_some_and(is_ident) {
            self.at += 1;
        }
        self.chars[start..self.at].iter().collect()
    }

    /// A quoted string starting at the current quote; returns its (unescaped enough) text.
    fn string(&mut self) -> String {
        let quote = self.chars[self.at];
        self.at += 1;
        let mut text = String::new();
        while let Some(c) = self.peek() {
            self.at += 1;
            if c == quote {
                return text;
            }
            if c == '\\' && quote != '`' {
                if let Some(escaped) = self.peek() {
                    self.at += 1;
                    text.push(escaped);
                }
                continue;
            }
            text.push(c);
        }
        panic!("unterminated string in {:?}", self.expr);
    }

    /// `{name op "value", ...}` starting at `{`: the label names (and a `__name__` value).
    fn matchers(&mut self) -> Matchers {
        self.at += 1;
        let mut found = Matchers::default();
        loop {
            self.skip_space();
            match self.peek() {
                Some('}') => {
                    self.at += 1;
                    return found;
                }
                Some(',') => self.at += 1,
                Some(c) if is_ident_start(c) => {
                    let label = self.ident();
                    self.skip_space();
                    while self.peek().is_some_and(|c| matches!(c, '=' | '!' | '~')) {
                        self.at += 1;
                    }
                    self.skip_space();
                    let value = match self.peek() {
                        Some('"' | '\'' | '`') => self.string(),
                        other => {
                            panic!("expected a quoted value, got {other:?} in {:?}", self.expr)
                        }
                    };
                    if label == "__name__" {
                        found.name = Some(value);
                    } else {
                        found.labels.insert(label.clone());
                        found.values.push((label, value));
                    }
                }
                Some('"' | '\'') => {
                    // Prometheus 3 allows a quoted metric name inside the braces.
                    found.name = Some(self.string());
                }
                other => panic!("unexpected {other:?} in a selector of {:?}", self.expr),
            }
        }
    }

    /// `(a, b)` starting at `(`: label names.
    fn label_list(&mut self) -> Vec<String> {
        self.at += 1;
        let mut labels = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Some(')') => {
                    self.at += 1;
                    return labels;
                }
                Some(',') => self.at += 1,
                Some(c) if is_ident_start(c) => labels.push(self.ident()),
                Some('"' | '\'') => labels.push(self.string()),
                other => panic!("unexpected {other:?} in a label list of {:?}", self.expr),
            }
        }
    }
}

/// The metrics and labels `expr` reads. Panics on what it cannot read (an unterminated string
/// or selector), so a query it does not understand fails the test instead of passing unread.
pub fn parse(expr: &str) -> Query {
    let mut s = Scanner {
        chars: expr.chars().collect(),
        at: 0,
        expr,
    };
    let mut query = Query::default();
    // The metric whose selector the next `{` belongs to.
    let mut last_metric: Option<String> = None;
    while let Some(c) = s.peek() {
        match c {
            '"' | '\'' | '`' => {
                s.string();
                last_metric = None;
            }
            '{' => {
                let Matchers {
                    labels,
                    name,
                    values,
                } = s.matchers();
                query.values.extend(values);
                let metric = name.or_else(|| last_metric.take());
                match metric {
                    Some(metric) => query.metrics.entry(metric).or_default().extend(labels),
                    None => panic!("a selector without a metric name in {expr:?}"),
                }
                last_metric = None;
            }
            '[' => {
                // A range or subquery duration: `[5m]`, `[$__rate_interval]`, `[1h:5m]`.
                while s.peek().is_some_and(|c| c != ']') {
                    s.at += 1;
                }
                s.at += 1;
            }
            '$' => {
                // A Grafana variable: `$__rate_interval`, `${datasource}`.
                s.at += 1;
                if s.peek() == Some('{') {
                    while s.peek().is_some_and(|c| c != '}') {
                        s.at += 1;
                    }
                    s.at += 1;
                } else {
                    s.ident();
                }
                last_metric = None;
            }
            c if c.is_ascii_digit()
                || (c == '.' && s.chars.get(s.at + 1).is_some_and(char::is_ascii_digit)) =>
            {
                // Numbers and durations: `0.99`, `1e3`, `0x1f`, `5m`.
                while s
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
                {
                    s.at += 1;
                }
                last_metric = None;
            }
            c if is_ident_start(c) => {
                let ident = s.ident();
                let lower = ident.to_ascii_lowercase();
                let next = s.next_non_space();
                if GROUPING.contains(&lower.as_str()) {
                    s.skip_space();
                    if s.peek() == Some('(') {
                        query.grouping.extend(s.label_list());
                    }
                    last_metric = None;
                } else if KEYWORDS.contains(&lower.as_str()) {
                    last_metric = None;
                } else if next == Some('(') {
                    // A function or an aggregation with its argument list.
                    last_metric = None;
                } else if AGGREGATIONS.contains(&lower.as_str())
                    && next.is_some_and(|c| c == 'b' || c == 'w')
                {
                    // `sum by (...) (...)`, `max without (...) (...)`.
                    last_metric = None;
                } else {
                    query.metrics.entry(ident.clone()).or_default();
                    last_metric = Some(ident);
                }
            }
            _ => {
                s.at += 1;
                if !c.is_whitespace() {
                    last_metric = None;
                }
            }
        }
    }
    query
}

/// One metric family of a Prometheus text exposition.
#[derive(Debug, Default)]
pub struct Family {
    /// `counter`, `gauge`, `histogram`, `summary` or `untyped`, from its `# TYPE` line.
    pub kind: String,
    /// Sample names seen (`x`, or `x_bucket`, `x_sum`, `x_count`), each with the label names
    /// of its samples.
    pub samples: BTreeMap<String, BTreeSet<String>>,
}

/// A `/metrics` page: families by name.
#[derive(Debug, Default)]
pub struct Exposition {
    pub families: BTreeMap<String, Family>,
}

impl Exposition {
    pub fn parse(text: &str) -> Self {
        let mut families: BTreeMap<String, Family> = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split_whitespace();
                if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                    families.entry(name.to_owned()).or_default().kind = kind.to_owned();
                }
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let sample = &line[..name_end];
            let mut labels = BTreeSet::new();
            if line[name_end..].starts_with('{') {
                let mut s = Scanner {
                    chars: line[name_end..].chars().collect(),
                    at: 0,
                    expr: line,
                };
                labels = s.matchers().labels;
            }
            let family = Self::family_of(&families, sample);
            families
                .entry(family)
                .or_default()
                .samples
                .entry(sample.to_owned())
                .or_default()
                .extend(labels);
        }
        Self { families }
    }

    fn family_of(families: &BTreeMap<String, Family>, sample: &str) -> String {
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some(base) = sample.strip_suffix(suffix)
                && families
                    .get(base)
                    .is_some_and(|f| matches!(f.kind.as_str(), "histogram" | "summary"))
            {
                return base.to_owned();
            }
        }
        sample.to_owned()
    }

    /// The family a queried name reads (`x_bucket` of histogram `x` reads `x`), if exported
    /// with a `# TYPE` line and at least one sample of exactly that name.
    pub fn family(&self, queried: &str) -> Option<(&str, &Family)> {
        let name = Self::family_of(&self.families, queried);
        let (name, family) = self.families.get_key_value(&name)?;
        (!family.kind.is_empty() && family.samples.contains_key(queried))
            .then_some((name.as_str(), family))
    }

    /// The label names on samples of `queried`.
    pub fn labels(&self, queried: &str) -> BTreeSet<String> {
        self.family(queried)
            .and_then(|(_, f)| f.samples.get(queried).cloned())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(expr: &str) -> Vec<String> {
        parse(expr).metrics.into_keys().collect()
    }

    #[test]
    fn the_extractor_finds_metrics_not_functions_labels_or_keywords() {
        assert_eq!(
            names(
                r#"histogram_quantile(0.99, sum by (le) (rate(alter_verify_seconds_bucket{job="v"}[$__rate_interval])))"#
            ),
            ["alter_verify_seconds_bucket"]
        );
        assert_eq!(
            names(
                r#"sum(rate(a_total{outcome!="ok"}[5m])) / sum without (x) (rate(b_total[5m] offset 1h)) > 0.01 and on (job) up == bool 1e3"#
            ),
            ["a_total", "b_total", "up"]
        );
        assert_eq!(names("max(x_gauge)"), ["x_gauge"]);
        assert_eq!(names("x_gauge > 3"), ["x_gauge"]);
        assert_eq!(names(r#"{__name__="named_total", a="b"}"#), ["named_total"]);
        assert_eq!(
            names(
                r#"count_values("value", y) + topk(3, z) * label_replace(w, "dst", "$1", "src", "(.*)")"#
            ),
            ["w", "y", "z"]
        );
        assert!(names(r#"vector(1) + time()"#).is_empty());
        let q = parse(
            r#"sum by (provider, reason) (increase(r_total{reason=~"a|b", provider="clerk"}[10m])) * on (job) group_left (team) t"#,
        );
        assert_eq!(
            q.metrics["r_total"],
            BTreeSet::from(["reason".to_owned(), "provider".to_owned()])
        );
        assert_eq!(
            q.values,
            BTreeSet::from([
                ("provider".to_owned(), "clerk".to_owned()),
                ("reason".to_owned(), "a|b".to_owned())
            ])
        );
        assert_eq!(
            q.grouping,
            ["job", "provider", "reason", "team"]
                .map(str::to_owned)
                .into()
        );
    }

    #[test]
    fn the_exposition_reader_groups_histogram_samples_under_their_family() {
        let text = "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\n\
                    # TYPE c_total counter\nc_total{outcome=\"ok\",idp=\"a\\\"b\"} 4\n# TYPE g gauge\n";
        let e = Exposition::parse(text);
        assert_eq!(e.family("h_bucket").unwrap().0, "h");
        assert_eq!(e.family("h_count").unwrap().0, "h");
        assert_eq!(e.labels("h_bucket"), BTreeSet::from(["le".to_owned()]));
        assert_eq!(
            e.labels("c_total"),
            BTreeSet::from(["idp".to_owned(), "outcome".to_owned()])
        );
        assert!(
            e.family("g").is_none(),
            "a TYPE line without samples is not exported"
        );
        assert!(
            e.family("c_total_count").is_none(),
            "a counter has no _count"
        );
        assert!(e.family("missing_total").is_none());
    }
}
