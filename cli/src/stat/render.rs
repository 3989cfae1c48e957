//! Printing rows: an aligned table for people, JSON for scripts.

use super::{Kind, Row};
use weft_k8s_api::metrics::ObjectReference;

/// The table for `weft stat`. `kind` is what was asked for: rows of another
/// kind (a TrafficSplit's backend Services) are named `service/api-v2` so
/// they are not mistaken for objects of that kind.
pub fn stat_table(rows: &[Row], kind: Kind) -> String {
    let header = ["NAME"];
    let lines = rows.iter().map(|r| {
        let name = if r.kind.eq_ignore_ascii_case(kind.name()) {
            r.name.clone()
        } else {
            format!("{}/{}", r.kind.to_lowercase(), r.name)
        };
        vec![name]
    });
    table(&header, rows, lines)
}

/// The table for `weft edges`: one line per peer and side that measured.
pub fn edges_table(rows: &[Row]) -> String {
    let header = ["DIRECTION", "RESOURCE", "MEASURED-BY"];
    let lines = rows.iter().map(|r| match &r.edge {
        Some(e) => vec![
            e.direction.clone(),
            peer(&e.peer, r.namespace.as_deref()),
            e.side.clone(),
        ],
        None => vec!["-".into(), "-".into(), "-".into()],
    });
    table(&header, rows, lines)
}

/// The JSON for either command: an array of [`Row`]s.
pub fn json(rows: &[Row]) -> String {
    serde_json::to_string_pretty(rows).unwrap_or_else(|_| "[]".into())
}

/// `deployment/api`, or `other/deployment/api` when the peer lives in
/// another namespace than the resource asked about.
fn peer(p: &ObjectReference, ns: Option<&str>) -> String {
    let name = format!(
        "{}/{}",
        p.kind.to_lowercase(),
        p.name.as_deref().unwrap_or("-")
    );
    match p.namespace.as_deref() {
        Some(pns) if Some(pns) != ns => format!("{pns}/{name}"),
        _ => name,
    }
}

/// Lays out `leading` columns followed by the metric columns every table
/// shares, padded like kubectl's (left-aligned, three spaces apart).
fn table(leading: &[&str], rows: &[Row], lead_cells: impl Iterator<Item = Vec<String>>) -> String {
    const METRICS: [&str; 7] = ["SUCCESS", "RPS", "P50", "P90", "P99", "SUCCEEDED", "FAILED"];
    let mut grid: Vec<Vec<String>> = vec![
        leading
            .iter()
            .chain(METRICS.iter())
            .map(|h| h.to_string())
            .collect(),
    ];
    for (mut cells, r) in lead_cells.zip(rows) {
        cells.extend([
            percent(r.success_rate),
            format!("{:.2}", r.rps),
            ms(r.p50_ms),
            ms(r.p90_ms),
            ms(r.p99_ms),
            r.success_count.to_string(),
            r.failure_count.to_string(),
        ]);
        grid.push(cells);
    }
    let widths: Vec<usize> = (0..grid[0].len())
        .map(|c| grid.iter().map(|l| l[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for line in &grid {
        let last = line.len() - 1;
        for (c, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if c < last {
                let pad = widths[c] - cell.chars().count() + 3;
                out.push_str(&" ".repeat(pad));
            }
        }
        out.push('\n');
    }
    out
}

/// `98.5%`, or `-` when there was no request to count.
fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".into(), |r| format!("{:.1}%", r * 100.0))
}

/// `12ms`, `3.6ms`, `0.25ms`: at most three decimals, none that are zero.
fn ms(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) => {
            let s = format!("{v:.3}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            format!("{s}ms")
        }
    }
}
