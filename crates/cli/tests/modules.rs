//! No import circles between the modules (files) of the workspace's crates: every `use` and every
//! `crate::…`/`super::…` path in a file is an edge to the module file it names, and the graph of
//! those edges must be acyclic. Run `cargo test --release -p tunescope --test modules -- --nocapture`
//! to print each crate's module graph (`from -> to`); `TUNESCOPE_CRATES=DIR` checks the crates
//! of another checkout (e.g. `git archive COMMIT crates | tar -x -C DIR/..`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`study::plan`) of every `.rs` file under `src`.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let rel = p.strip_prefix(src).unwrap().with_extension("");
                let mut parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    parts.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    parts.pop();
                }
                out.insert(parts.join("::"), p);
            }
        }
    }
    out
}

/// The module a path names: its longest prefix that is a module.
fn resolve(path: &[String], mods: &BTreeMap<String, PathBuf>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| mods.contains_key(m))
}

/// Edges from module `me` (file `text`) to the modules it names.
fn edges(me: &str, text: &str, mods: &BTreeMap<String, PathBuf>) -> BTreeSet<String> {
    let here: Vec<String> = if me.is_empty() {
        Vec::new()
    } else {
        me.split("::").map(String::from).collect()
    };
    let mut out = BTreeSet::new();
    // Code only: up to the unit tests of the file, without comments.
    let code: String = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap()
        .lines()
        .map(|l| l.split("//").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let word = |c: char| {
        c.is_alphanumeric() || c == '_' || c == ':' || c == '{' || c == ',' || c == ' ' || c == '}'
    };
    for (i, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        if i > 0 && code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let tail: String = code[i..]
            .chars()
            .take_while(|&c| word(c) || c == '\n')
            .collect();
        let (head, group) = match tail.find('{') {
            Some(b) => (
                &tail[..b],
                Some(&tail[b + 1..tail.find('}').unwrap_or(tail.len())]),
            ),
            None => (tail.as_str(), None),
        };
        let head = head.split([' ', '\n', ',', '}']).next().unwrap();
        let mut parts: Vec<String> = head
            .split("::")
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let base: Vec<String> = match parts.first().map(String::as_str) {
            Some("crate") => Vec::new(),
            Some("super") => {
                // `super` of a module file is its parent module.
                let mut b = here.clone();
                let mut k = 0;
                while parts.get(k).map(String::as_str) == Some("super") {
                    b.pop();
                    k += 1;
                }
                parts.drain(..k - 1);
                b
            }
            _ => continue,
        };
        parts.remove(0);
        let mut targets = vec![parts.clone()];
        if let Some(g) = group {
            for item in g.split(',') {
                let item = item.trim().split("::").next().unwrap().trim();
                if !item.is_empty() && item != "self" {
                    let mut p = parts.clone();
                    p.push(item.to_string());
                    targets.push(p);
                }
            }
        }
        for t in targets {
            let full: Vec<String> = base.iter().cloned().chain(t).collect();
            if let Some(m) = resolve(&full, mods) {
                if m != me && !m.is_empty() {
                    out.insert(m);
                }
            }
        }
    }
    out
}

/// A cycle of `graph`, if any.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m).copied().unwrap_or(0) {
                1 => {
                    let start = path.iter().position(|x| x == m).unwrap();
                    let mut c = path[start..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(m, g, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

fn graph(krate: &str) -> BTreeMap<String, BTreeSet<String>> {
    // `TUNESCOPE_CRATES=DIR` checks another checkout's `crates/` (e.g. an older commit's).
    let crates = std::env::var_os("TUNESCOPE_CRATES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    let src = crates.join(krate).join("src");
    let mods = modules(&src);
    mods.iter()
        .map(|(m, p)| {
            (
                m.clone(),
                edges(m, &std::fs::read_to_string(p).unwrap(), &mods),
            )
        })
        .collect()
}

#[test]
fn module_graphs_have_no_circles() {
    for krate in ["cli", "compare", "report"] {
        let g = graph(krate);
        for (from, tos) in &g {
            for to in tos {
                println!("{krate}: {from} -> {to}");
            }
        }
        assert_eq!(cycle(&g), None, "import circle in crates/{krate}");
    }
}

#[test]
fn the_circle_finder_finds_circles() {
    let mods: BTreeMap<String, PathBuf> = ["a", "b", "b::c"]
        .iter()
        .map(|m| (m.to_string(), PathBuf::new()))
        .collect();
    assert_eq!(
        edges(
            "b::c",
            "use super::super::a::X;\nuse crate::b::{c, Y};",
            &mods
        ),
        ["a".to_string(), "b".to_string()].into()
    );
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), ["b".to_string()].into()),
        ("b".to_string(), ["a".to_string()].into()),
    ]
    .into();
    assert!(cycle(&g).is_some());
}
