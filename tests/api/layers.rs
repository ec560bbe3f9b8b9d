//! The layers hold: the `use crate::…` graph of `src/` has no cycle, and no application module
//! reaches for HTTP. Read from the source text, so it runs without a database.
//!
//! Nodes are module files (`src/http/account.rs` is `http::account`, `src/lib.rs` the root);
//! an edge is any `crate::…` or `super::…` path in a file (in a `use` or inline), resolved to the
//! deepest module it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn module_files(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            let mut inner = prefix.to_vec();
            inner.push(name);
            module_files(&path, &inner, out);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let mut segments = prefix.to_vec();
            if stem != "mod" && !(prefix.is_empty() && (stem == "lib" || stem == "main")) {
                segments.push(stem.to_string());
            }
            if prefix.is_empty() && stem == "main" {
                continue; // the binary is its own crate
            }
            out.insert(segments.join("::"), path);
        }
    }
}

/// The source with comments and string literals blanked, so neither yields a false edge.
fn code_only(source: &str) -> String {
    let bytes: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let next = bytes.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < bytes.len() && bytes[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < bytes.len() && !(bytes[i] == '*' && bytes[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == '"' {
            i += 1;
            while i < bytes.len() && bytes[i] != '"' {
                if bytes[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && next.is_some_and(|n| n != '\\') && bytes.get(i + 2) == Some(&'\'') {
            i += 3; // a char literal such as '{'
        } else if c == '\'' && next == Some('\\') {
            i += 2;
            while i < bytes.len() && bytes[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Every path a use tree starting at `text` names, e.g. `{a::b, c::{d, e}}` → a::b, c::d, c::e.
fn use_tree(text: &[char], at: &mut usize, base: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = base;
    loop {
        while *at < text.len() && text[*at].is_whitespace() {
            *at += 1;
        }
        if *at < text.len() && text[*at] == '{' {
            *at += 1;
            loop {
                use_tree(text, at, path.clone(), out);
                while *at < text.len() && text[*at].is_whitespace() {
                    *at += 1;
                }
                match text.get(*at) {
                    Some(',') => *at += 1,
                    Some('}') => {
                        *at += 1;
                        return;
                    }
                    _ => return,
                }
                while *at < text.len() && text[*at].is_whitespace() {
                    *at += 1;
                }
                if text.get(*at) == Some(&'}') {
                    *at += 1;
                    return;
                }
            }
        }
        let start = *at;
        while *at < text.len() && (text[*at].is_alphanumeric() || text[*at] == '_') {
            *at += 1;
        }
        if *at == start {
            out.push(path);
            return;
        }
        path.push(text[start..*at].iter().collect());
        if text.get(*at) == Some(&':') && text.get(*at + 1) == Some(&':') {
            *at += 2;
        } else {
            out.push(path);
            return;
        }
    }
}

fn referenced_paths(
    code: &str,
    module: &[String],
    modules: &BTreeMap<String, PathBuf>,
) -> Vec<Vec<String>> {
    let text: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let boundary = i == 0 || !(text[i - 1].is_alphanumeric() || text[i - 1] == '_');
        let rest = || text[i..].iter().take(7).collect::<String>();
        if boundary && rest().starts_with("crate::") {
            let mut at = i + 7;
            use_tree(&text, &mut at, Vec::new(), &mut out);
            i = at.max(i + 1);
        } else if boundary && rest().starts_with("super::") {
            // `super` of the module `a::b` is `a`, whether it is a/b.rs or a/b/mod.rs.
            let mut base = module.to_vec();
            let mut at = i;
            while text[at..].iter().take(7).collect::<String>() == "super::" {
                base.pop();
                at += 7;
            }
            let mut paths = Vec::new();
            use_tree(&text, &mut at, Vec::new(), &mut paths);
            for path in paths {
                let mut full = base.clone();
                full.extend(path);
                out.push(full);
            }
            i = at.max(i + 1);
        } else if boundary && (i < 2 || text[i - 2..i] != [':', ':']) && text[i].is_alphabetic() {
            // A path through a child module, such as `account::router()` in http/mod.rs.
            let start = i;
            while i < text.len() && (text[i].is_alphanumeric() || text[i] == '_') {
                i += 1;
            }
            let ident: String = text[start..i].iter().collect();
            let mut child = module.to_vec();
            child.push(ident);
            let is_path = text.get(i) == Some(&':') && text.get(i + 1) == Some(&':');
            if is_path && modules.contains_key(&child.join("::")) {
                let mut at = start;
                use_tree(&text, &mut at, module.to_vec(), &mut out);
                i = at.max(i);
            }
        } else {
            i += 1;
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

fn resolve(path: &[String], modules: &BTreeMap<String, PathBuf>) -> String {
    for len in (0..=path.len()).rev() {
        let name = path[..len].join("::");
        if modules.contains_key(&name) {
            return name;
        }
    }
    String::new()
}

/// The graph without `#[cfg(test)]` modules: tests may reach back into their parent file.
fn strip_test_modules(code: &str) -> String {
    match code.find("#[cfg(test)]") {
        Some(at) => code[..at].to_string(),
        None => code.to_string(),
    }
}

fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    module_files(&root, &[], &mut modules);
    let mut graph = BTreeMap::new();
    for (name, path) in &modules {
        let source = std::fs::read_to_string(path).expect("a source file is readable");
        let code = strip_test_modules(&code_only(&source));
        let segments: Vec<String> = if name.is_empty() {
            Vec::new()
        } else {
            name.split("::").map(str::to_string).collect()
        };
        let edges: BTreeSet<String> = referenced_paths(&code, &segments, &modules)
            .iter()
            .map(|p| resolve(p, &modules))
            .filter(|target| target != name && !target.is_empty())
            .collect();
        graph.insert(name.clone(), edges);
    }
    graph
}

/// Strongly connected components of more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(walk: &mut Walk<'a>, node: &'a str) {
        walk.index.insert(node, walk.next);
        walk.low.insert(node, walk.next);
        walk.next += 1;
        walk.stack.push(node);
        walk.on_stack.insert(node);
        let graph = walk.graph;
        for target in graph.get(node).into_iter().flatten() {
            let target = target.as_str();
            if !walk.index.contains_key(target) {
                visit(walk, target);
                let low = walk.low[target].min(walk.low[node]);
                walk.low.insert(node, low);
            } else if walk.on_stack.contains(target) {
                let low = walk.index[target].min(walk.low[node]);
                walk.low.insert(node, low);
            }
        }
        if walk.low[node] == walk.index[node] {
            let mut component = Vec::new();
            while let Some(member) = walk.stack.pop() {
                walk.on_stack.remove(member);
                component.push(member.to_string());
                if member == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                walk.found.push(component);
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !walk.index.contains_key(node.as_str()) {
            visit(&mut walk, node);
        }
    }
    walk.found
}

fn label(module: &str) -> &str {
    if module.is_empty() {
        "(crate root)"
    } else {
        module
    }
}

#[test]
fn the_import_graph_of_src_has_no_cycle() {
    let graph = import_graph();
    let edges: usize = graph.values().map(BTreeSet::len).sum();
    assert!(
        graph.len() > 30 && edges > 100 && graph["cli"].contains("store"),
        "the graph was read: {graph:?}"
    );
    let found = cycles(&graph);
    let report: Vec<String> = found
        .iter()
        .map(|component| {
            let members: Vec<String> = component
                .iter()
                .map(|m| {
                    let inside: Vec<&str> = graph[m]
                        .iter()
                        .filter(|t| component.contains(t))
                        .map(|t| label(t))
                        .collect();
                    format!("  {} → {}", label(m), inside.join(", "))
                })
                .collect();
            members.join("\n")
        })
        .collect();
    assert!(
        found.is_empty(),
        "import cycles in src/ ({} modules in {} loops):\n{}",
        found.iter().map(Vec::len).sum::<usize>(),
        found.len(),
        report.join("\n  --\n")
    );
}

#[test]
fn the_cycle_check_finds_a_loop_when_there_is_one() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    graph.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    graph.insert("d".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(cycles(&graph), vec![vec!["a", "b", "c"]]);
    let mut paths = Vec::new();
    let text: Vec<char> = "{a::b, c::{d, e}, f}".chars().collect();
    use_tree(&text, &mut 0, Vec::new(), &mut paths);
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(joined, vec!["a::b", "c::d", "c::e", "f"]);
}

#[test]
fn no_application_module_reaches_for_http() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/application");
    let mut modules = BTreeMap::new();
    module_files(&root, &[], &mut modules);
    assert!(
        modules.contains_key("registration"),
        "the application layer is in src/application/: {modules:?}"
    );
    let mut offenders = Vec::new();
    for path in modules.values() {
        let source = std::fs::read_to_string(path).expect("a source file is readable");
        let code = code_only(&source);
        let words: BTreeSet<&str> = code
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .collect();
        for forbidden in ["axum", "http", "Problem", "StatusCode", "reqwest"] {
            if words.contains(forbidden) {
                offenders.push(format!("{} uses {forbidden}", path.display()));
            }
        }
        if code.contains("crate::problem") {
            offenders.push(format!("{} uses crate::problem", path.display()));
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

/// The string literals that follow each call of `call` in `source` (the `nth` literal after
/// it, 0-based), within the call's first line or two.
fn literals_after(source: &str, call: &str, nth: usize) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in source.match_indices(call) {
        let window: String = source[at + call.len()..].chars().take(160).collect();
        let literals: Vec<&str> = window.split('"').skip(1).step_by(2).collect();
        // The code is the call's `nth` argument; a first argument may be a plain name.
        let direct = window.trim_start().starts_with('"');
        let after_name = window.split_once(',').is_some_and(|(first, rest)| {
            first
                .trim()
                .chars()
                .all(|c| c.is_alphanumeric() || "_:.&".contains(c))
                && rest.trim_start().starts_with('"')
        });
        let index = match (direct, after_name) {
            (true, _) => Some(nth),
            (false, true) if nth > 0 || call.ends_with("::") => Some(nth.saturating_sub(1)),
            _ => None,
        };
        if let Some(literal) = index.and_then(|i| literals.get(i)) {
            found.push(literal.to_string());
        }
    }
    found
}

#[test]
fn every_code_and_text_the_service_uses_is_in_the_catalogue() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    module_files(&root, &[], &mut modules);
    let mut used = BTreeSet::new();
    for path in modules.values() {
        let source = std::fs::read_to_string(path).expect("a source file is readable");
        let source = strip_test_modules(&source);
        for (call, nth) in [
            ("FieldError::new(", 1),
            ("Problem::new(ProblemKind::", 0),
            ("Problem::rate_limited(", 0),
            (".with_code(", 0),
            ("messages::text(", 0),
            ("messages::format(", 0),
        ] {
            for literal in literals_after(&source, call, nth) {
                used.insert((literal, path.display().to_string()));
            }
        }
    }
    assert!(used.len() > 100, "the scan found the codes: {used:?}");
    let missing: Vec<String> = used
        .iter()
        .filter(|(code, _)| !xuexin::messages::has(code))
        .map(|(code, path)| format!("{code} ({path})"))
        .collect();
    assert!(missing.is_empty(), "not in the catalogue: {missing:?}");
    // And the service's texts are only there: no Chinese literal outside it and the tests.
    let mut stray = Vec::new();
    for (name, path) in &modules {
        // The catalogue itself, the default sender's display name and the event schemas'
        // field descriptions (for developers) may hold Chinese.
        if ["messages", "config", "event_schemas"].contains(&name.as_str()) {
            continue;
        }
        let source = std::fs::read_to_string(path).expect("a source file is readable");
        let code = strip_test_modules(&source);
        for line in code.lines() {
            let trimmed = line.trim_start();
            // OpenAPI descriptions are for developers.
            if trimmed.starts_with("//")
                || trimmed.starts_with('#')
                || line.contains("description =")
            {
                continue;
            }
            let literals = line.split('"').skip(1).step_by(2);
            for literal in literals {
                if literal
                    .chars()
                    .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
                {
                    stray.push(format!("{}: {literal}", path.display()));
                }
            }
        }
    }
    assert!(
        stray.is_empty(),
        "texts outside the catalogue:\n{}",
        stray.join("\n")
    );
}

#[test]
fn only_the_adapters_and_startup_see_the_whole_state() {
    let graph = import_graph();
    let adapter = |m: &str| {
        ["http", "web"]
            .iter()
            .any(|a| m == *a || m.starts_with(&format!("{a}::")))
            || m == "cli"
            || m == "startup"
    };
    let mut offenders: Vec<&str> = graph
        .iter()
        .filter(|(module, edges)| !adapter(module) && *module != "state" && edges.contains("state"))
        .map(|(module, _)| label(module))
        .collect();
    offenders.sort_unstable();
    assert!(
        graph["http::account"].contains("state"),
        "the graph sees http's use of the state"
    );
    assert!(
        offenders.is_empty(),
        "modules below the adapters that take the whole state: {offenders:?}"
    );
    // And nothing imports startup but the CLI (and the crate root that declares it).
    let into_startup: Vec<&str> = graph
        .iter()
        .filter(|(module, edges)| edges.contains("startup") && *module != "cli")
        .map(|(module, _)| label(module))
        .collect();
    assert!(into_startup.is_empty(), "{into_startup:?} import startup");
}
