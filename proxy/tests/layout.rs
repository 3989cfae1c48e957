//! The proxy's module layout, checked from its source: no import circle
//! between files, and no arrow between `inbound/` and `outbound/` (both
//! build on the shared modules beside them, never on each other).
//!
//! An arrow is any `crate::…`, `super::…` or `self::…` path in code (a `use`
//! or inline), and a `use` of a child module by name. Test modules (`tests.rs`,
//! inline `mod tests { … }`) and comments are left out: tests may reach into
//! their parent.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// A module path from the crate root, e.g. `["outbound", "http"]`.
type Module = Vec<String>;

#[test]
fn the_proxy_has_no_import_circle() {
    let graph = Graph::load();
    assert!(
        graph.files.len() > 20,
        "read only {} files",
        graph.files.len()
    );
    if let Some(circle) = graph.find_circle() {
        panic!("import circle: {}", circle.join(" -> "));
    }
}

#[test]
fn inbound_and_outbound_do_not_import_each_other() {
    let graph = Graph::load();
    let mut crossing = Vec::new();
    for (from, tos) in &graph.edges {
        for to in tos {
            let (a, b) = (top(from), top(to));
            if a != b
                && ["inbound", "outbound"].contains(&a)
                && ["inbound", "outbound"].contains(&b)
            {
                crossing.push(format!("{} -> {}", from.join("::"), to.join("::")));
            }
        }
    }
    assert!(crossing.is_empty(), "direction arrows: {crossing:#?}");
}

#[test]
fn the_checker_sees_circles_and_grouped_imports() {
    let files = BTreeMap::from([
        (
            module("a"),
            "use crate::{b::{self, X}, c as see};\n".to_string(),
        ),
        (module("b"), "fn f() { crate::a::g(); }\n".to_string()),
        (module("b::x"), "use super::{super::c};\n".to_string()),
        (module("c"), "// use crate::a;\n".to_string()),
        (module("d"), "pub mod e;\npub use e::Y;\n".to_string()),
        (module("d::e"), "use super::super::c;\n".to_string()),
    ]);
    let graph = Graph::from_sources(files);
    assert_eq!(graph.edges[&module("a")], [module("b"), module("c")].into());
    assert_eq!(graph.edges[&module("d")], [module("d::e")].into());
    assert_eq!(graph.edges[&module("d::e")], [module("c")].into());
    assert!(graph.edges[&module("c")].is_empty());
    assert_eq!(graph.edges[&module("b::x")], [module("c")].into());
    let circle = graph.find_circle().expect("a and b import each other");
    assert_eq!(circle, ["a", "b", "a"]);
}

fn module(path: &str) -> Module {
    path.split("::").map(str::to_string).collect()
}

fn top(m: &Module) -> &str {
    m.first().map_or("", String::as_str)
}

struct Graph {
    files: BTreeSet<Module>,
    edges: BTreeMap<Module, BTreeSet<Module>>,
}

impl Graph {
    fn load() -> Self {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut sources = BTreeMap::new();
        for file in rust_files(&src) {
            let rel = file.strip_prefix(&src).unwrap();
            // main.rs is the binary, a crate of its own.
            if rel == Path::new("main.rs") || is_test_file(rel) {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            sources.insert(module_of(rel), text);
        }
        Self::from_sources(sources)
    }

    fn from_sources(sources: BTreeMap<Module, String>) -> Self {
        let files: BTreeSet<Module> = sources.keys().cloned().collect();
        let mut edges = BTreeMap::new();
        for (m, text) in &sources {
            let mut tos = BTreeSet::new();
            for path in paths(&strip_tests_and_comments(text)) {
                if let Some(to) = resolve(m, &path, &files)
                    && &to != m
                {
                    tos.insert(to);
                }
            }
            edges.insert(m.clone(), tos);
        }
        Self { files, edges }
    }

    /// A circle of files importing each other, if there is one.
    fn find_circle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Open,
            Done,
        }
        fn visit(
            g: &Graph,
            m: &Module,
            marks: &mut BTreeMap<Module, Mark>,
            stack: &mut Vec<Module>,
        ) -> Option<Vec<String>> {
            match marks.get(m) {
                Some(Mark::Done) => return None,
                Some(Mark::Open) => {
                    let start = stack.iter().position(|s| s == m).unwrap();
                    let mut circle: Vec<String> =
                        stack[start..].iter().map(|s| s.join("::")).collect();
                    circle.push(m.join("::"));
                    return Some(circle);
                }
                None => {}
            }
            marks.insert(m.clone(), Mark::Open);
            stack.push(m.clone());
            for to in g.edges.get(m).into_iter().flatten() {
                if let Some(c) = visit(g, to, marks, stack) {
                    return Some(c);
                }
            }
            stack.pop();
            marks.insert(m.clone(), Mark::Done);
            None
        }
        let mut marks = BTreeMap::new();
        self.files
            .iter()
            .find_map(|m| visit(self, m, &mut marks, &mut Vec::new()))
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

fn is_test_file(rel: &Path) -> bool {
    rel.file_name().is_some_and(|n| n == "tests.rs")
        || rel.components().any(|c| c.as_os_str() == "tests")
}

/// `lib.rs` → `[]`, `a.rs` and `a/mod.rs` → `[a]`, `a/b.rs` → `[a, b]`.
fn module_of(rel: &Path) -> Module {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The code without comments and without inline `mod tests { … }` blocks.
fn strip_tests_and_comments(text: &str) -> String {
    let mut out = String::new();
    let mut in_tests = false;
    for line in text.lines() {
        let t = line.trim_start();
        if in_tests {
            // An inline test module ends at the first closing brace in column 0.
            if line.starts_with('}') {
                in_tests = false;
            }
            continue;
        }
        if t.starts_with("mod tests {") {
            in_tests = true;
            continue;
        }
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// Every module path in `code`: inline `crate::`/`super::`/`self::` paths,
/// and `use` trees expanded (`use a::{b, c::d}` → `a::b`, `a::c::d`).
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    // The code outside `use` statements, for the inline pass.
    let mut inline = String::new();
    // `use` statements, whole, with their trees expanded.
    while let Some(i) = find_use(rest) {
        inline.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = after.find(';').unwrap_or(after.len());
        // `x as y` keeps only `x`; then no whitespace is left.
        let words: Vec<&str> = after["use ".len()..end].split_whitespace().collect();
        let tree = words.join(" ").replace(" as ", "@").replace(' ', "");
        expand(&tree, &mut Vec::new(), &mut out);
        rest = &after[end..];
    }
    inline.push_str(rest);
    let code = inline.as_str();
    // Inline paths anywhere else.
    for (i, _) in code.match_indices("::") {
        let start = code[..i]
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map_or(0, |s| s + 1);
        let head = &code[start..];
        if !(head.starts_with("crate::")
            || head.starts_with("super::")
            || head.starts_with("self::"))
        {
            continue;
        }
        // Only at a path's first `::`, so each path counts once.
        if code[start..i].contains("::") {
            continue;
        }
        let end = head
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(head.len());
        let path: Vec<String> = head[..end]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        // `super::{…}` opens a use group, expanded above.
        if path
            .iter()
            .all(|s| ["crate", "super", "self"].contains(&s.as_str()))
        {
            continue;
        }
        out.push(path);
    }
    out
}

/// The next `use ` at the start of a statement (`use`, `pub use`,
/// `pub(crate) use`).
fn find_use(code: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = code[from..].find("use ") {
        let at = from + i;
        let before = code[..at].trim_end_matches([' ', '\t']);
        let ok = before.is_empty()
            || before.ends_with('\n')
            || before.ends_with(';')
            || before.ends_with('{')
            || before.ends_with('}')
            || before.ends_with("pub")
            || before.ends_with(')');
        if ok {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

/// Expands one use tree under `prefix` into full paths.
fn expand(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let (head, group) = match tree.find('{') {
        Some(i) => (&tree[..i], Some(&tree[i + 1..tree.len() - 1])),
        None => (tree, None),
    };
    let n = prefix.len();
    for seg in head.split("::").filter(|s| !s.is_empty()) {
        let seg = seg.split('@').next().unwrap_or(seg);
        if seg != "self" && seg != "*" {
            prefix.push(seg.to_string());
        }
    }
    match group {
        Some(g) => {
            for item in split_top(g) {
                expand(item, prefix, out);
            }
        }
        None => out.push(prefix.clone()),
    }
    prefix.truncate(n);
}

/// Splits `a, b::{c, d}, e` at its top-level commas.
fn split_top(g: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
    for (i, c) in g.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&g[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&g[start..]);
    items.into_iter().filter(|s| !s.is_empty()).collect()
}

/// The file a path from module `from` lands in: the longest prefix that is
/// a file module. `None` for other crates.
fn resolve(from: &Module, path: &[String], files: &BTreeSet<Module>) -> Option<Module> {
    let mut abs: Module = match path.first().map(String::as_str) {
        Some("crate") => Vec::new(),
        Some("super") | Some("self") => from.clone(),
        // `use child::X` in a module that declares `child`.
        Some(first) => {
            let mut child = from.clone();
            child.push(first.to_string());
            if !files.contains(&child) {
                return None;
            }
            from.clone()
        }
        None => return None,
    };
    let mut segments = path.iter().peekable();
    if matches!(path[0].as_str(), "crate" | "self") {
        segments.next();
    }
    while segments.peek().map(|s| s.as_str()) == Some("super") {
        segments.next();
        abs.pop();
    }
    abs.extend(segments.cloned());
    // The crate root only declares modules: an arrow to it means nothing.
    (1..=abs.len())
        .rev()
        .map(|n| abs[..n].to_vec())
        .find(|m| files.contains(m))
}
