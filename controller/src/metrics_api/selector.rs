//! `labelSelector` query strings, in the syntax kubectl sends: `a=b`,
//! `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, joined by commas.

use kube::core::{Expression, Selector, SelectorExt as _};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid labelSelector {selector:?}: {reason}")]
pub struct SelectorError {
    selector: String,
    reason: String,
}

/// A parsed selector; the empty selector matches everything.
#[derive(Clone, Debug, Default)]
pub struct LabelSelector(Selector);

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let err = |reason: &str| SelectorError {
            selector: s.to_string(),
            reason: reason.to_string(),
        };
        let mut exprs = Vec::new();
        for term in split_terms(s) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            exprs.push(parse_term(term).map_err(|r| err(&r))?);
        }
        Ok(Self(Selector::from_iter(exprs)))
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.matches(labels)
    }
}

/// Splits on commas outside parentheses (`a in (x,y),b` is two terms).
fn split_terms(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn parse_term(term: &str) -> Result<Expression, String> {
    if let Some(key) = term.strip_prefix('!') {
        return Ok(Expression::DoesNotExist(key_of(key)?));
    }
    for (op, make) in [
        (
            "!=",
            Expression::NotEqual as fn(String, String) -> Expression,
        ),
        ("==", Expression::Equal),
        ("=", Expression::Equal),
    ] {
        if let Some((k, v)) = term.split_once(op) {
            return Ok(make(key_of(k)?, value_of(v)?));
        }
    }
    let words: Vec<&str> = term.splitn(2, char::is_whitespace).collect();
    match words.as_slice() {
        [key] => Ok(Expression::Exists(key_of(key)?)),
        [key, rest] => {
            let rest = rest.trim_start();
            let (set, values) = if let Some(v) = rest.strip_prefix("notin") {
                (false, v)
            } else if let Some(v) = rest.strip_prefix("in") {
                (true, v)
            } else {
                return Err(format!("{term:?}: expected =, !=, in or notin"));
            };
            let values = values
                .trim()
                .strip_prefix('(')
                .and_then(|v| v.strip_suffix(')'))
                .ok_or_else(|| format!("{term:?}: values go in parentheses"))?;
            let values = values
                .split(',')
                .map(|v| value_of(v.trim()))
                .collect::<Result<_, _>>()?;
            let key = key_of(key)?;
            Ok(if set {
                Expression::In(key, values)
            } else {
                Expression::NotIn(key, values)
            })
        }
        _ => Err(format!("{term:?} is empty")),
    }
}

fn key_of(k: &str) -> Result<String, String> {
    let k = k.trim();
    let ok = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    ok.then(|| k.to_string())
        .ok_or_else(|| format!("{k:?} is not a label key"))
}

fn value_of(v: &str) -> Result<String, String> {
    let v = v.trim();
    let ok = v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    ok.then(|| v.to_string())
        .ok_or_else(|| format!("{v:?} is not a label value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn matches_like_kubectl() {
        let web = labels(&[("app", "web"), ("tier", "a")]);
        let db = labels(&[("app", "db")]);
        for (sel, on_web, on_db) in [
            ("", true, true),
            ("app=web", true, false),
            ("app==web", true, false),
            ("app!=web", false, true),
            ("tier", true, false),
            ("!tier", false, true),
            ("app in (web, db),tier notin (b)", true, true),
            ("app in (db)", false, true),
            ("app=web,tier=b", false, false),
        ] {
            let s = LabelSelector::parse(sel).unwrap();
            assert_eq!((s.matches(&web), s.matches(&db)), (on_web, on_db), "{sel}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in ["app in web", "app=(x)", "a b c", "=x", "app ~ web"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }
}
