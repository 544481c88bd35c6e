//! The layout follows the data flow: no module under `src/` imports one later in [`FLOW`].
//!
//! Every `crate::…` path (also each member of a `crate::{a, b}` group) and every `super::…`
//! path that climbs to the crate root names a top-level module; its place in the flow must not
//! come after the place of the module the file belongs to. Comments and string literals do not
//! count; code does, `use` lines or not. `main.rs` is its own crate on top of everything.

use std::collections::BTreeSet;
use std::path::Path;

/// The top-level modules of `src/`, earliest first: each may use those before it.
const FLOW: &[&str] = &[
    "rng", "fsio", "imaging", "metrics", "product", "render", "dataset", "refine", "model",
    "compute", "train", "inspect", "eval", "worker", "gui", "cli",
];

/// A path from a file to a module that comes later in the flow (or is not in it).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    /// The file's own top-level module.
    module: String,
    /// The top-level module the path reaches.
    imports: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if FLOW.contains(&self.imports.as_str()) {
            write!(
                f,
                "src/{}:{}: `{}` uses `{}`, which comes later in the flow",
                self.file, self.line, self.module, self.imports
            )
        } else {
            write!(
                f,
                "src/{}:{}: `{}` is not in the flow of tests/layout.rs: add it where it belongs",
                self.file, self.line, self.imports
            )
        }
    }
}

/// `text` with comments, string and character literals blanked out (newlines kept, so line
/// numbers stay right).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let prev_ident = i > 0 && is_ident(chars[i - 1]);
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.extend([' ', ' ']);
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.extend([' ', ' ']);
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && matches!(next, Some('"' | '#'))
            && (!prev_ident || (chars[i - 1] == 'b' && (i < 2 || !is_ident(chars[i - 2]))))
        {
            // A raw string: r"…", r#"…"#, br"…".
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let body = i + 2 + hashes;
            let mut end = body;
            while end < chars.len()
                && !(chars[end] == '"'
                    && chars[end + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes)
            {
                end += 1;
            }
            let stop = (end + 1 + hashes).min(chars.len());
            out.extend(chars[i..stop].iter().map(|&c| blank(c)));
            i = stop;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                let step = if chars[i] == '\\' { 2 } else { 1 };
                let end = (i + step).min(chars.len());
                out.extend(chars[i..end].iter().map(|&c| blank(c)));
                i = end;
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && !prev_ident {
            // A character literal ('x', '\n', '\u{1F600}') or a lifetime ('a), kept.
            let literal_end = if next == Some('\\') {
                chars[i + 2..]
                    .iter()
                    .position(|&q| q == '\'')
                    .map(|p| i + 2 + p)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match literal_end {
                Some(end) => {
                    out.extend(std::iter::repeat_n(' ', end + 1 - i));
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out.into_iter().collect()
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

/// The tokens of code (comments and literals already blanked), each with its line.
fn tokens(code: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Token::Ident(chars[start..i].iter().collect()), line));
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push((Token::PathSep, line));
            i += 2;
        } else {
            out.push((Token::Punct(c), line));
            i += 1;
        }
    }
    out
}

/// The first segments of the paths that start at `tokens[at]`: one name, or each member of a
/// `{…}` group (nested groups name their own members, which are not top-level).
fn first_segments(tokens: &[(Token, usize)], at: usize) -> Vec<String> {
    match tokens.get(at) {
        Some((Token::Ident(name), _)) => vec![name.clone()],
        Some((Token::Punct('{'), _)) => {
            let mut names = Vec::new();
            let mut depth = 0;
            let mut expect_name = true;
            for (token, _) in &tokens[at..] {
                match token {
                    Token::Punct('{') => {
                        depth += 1;
                        expect_name = depth == 1;
                    }
                    Token::Punct('}') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Token::Punct(',') if depth == 1 => expect_name = true,
                    Token::Ident(name) if expect_name => {
                        names.push(name.clone());
                        expect_name = false;
                    }
                    _ => expect_name = false,
                }
            }
            names
        }
        _ => Vec::new(),
    }
}

/// The module path of a file under `src/`: `inspect/descent.rs` is `inspect::descent`,
/// `inspect/mod.rs` is `inspect`, `lib.rs` the crate root.
fn module_path(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// Every path in `text` (the file `file`, relative to `src/`) that reaches a top-level module
/// later in `flow` than the file's own, or one missing from it.
fn check_file(file: &str, text: &str, flow: &[&str]) -> Vec<Violation> {
    let path = module_path(file);
    let Some(own) = path.first().cloned() else {
        return Vec::new(); // The crate root only declares the modules.
    };
    let rank = |name: &str| flow.iter().position(|m| *m == name);
    let tokens = tokens(&code_only(text));
    let mut violations = Vec::new();
    let mut check = |target: String, line: usize| {
        if target == "self" || target == own {
            return;
        }
        let allowed = matches!((rank(&target), rank(&own)), (Some(t), Some(o)) if t <= o);
        if !allowed {
            violations.push(Violation {
                file: file.to_string(),
                line,
                module: own.clone(),
                imports: target,
            });
        }
    };
    // Inline modules (`mod tests { … }`) deepen what `super` climbs from.
    let mut inline: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let (token, line) = &tokens[i];
        match token {
            Token::Punct('{') => {
                depth += 1;
                let opens_mod = i >= 2
                    && matches!(&tokens[i - 2].0, Token::Ident(m) if m == "mod")
                    && matches!(&tokens[i - 1].0, Token::Ident(_));
                if opens_mod {
                    inline.push(depth);
                }
            }
            Token::Punct('}') => {
                if inline.last() == Some(&depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Token::Ident(word)
                if word == "crate" && tokens.get(i + 1).map(|t| &t.0) == Some(&Token::PathSep) =>
            {
                for target in first_segments(&tokens, i + 2) {
                    check(target, *line);
                }
            }
            Token::Ident(word) if word == "super" => {
                // Count `super::super::…`; only a chain that reaches the crate root names a
                // top-level module.
                let mut supers = 0;
                let mut j = i;
                while matches!(&tokens.get(j).map(|t| &t.0), Some(Token::Ident(w)) if w == "super")
                    && tokens.get(j + 1).map(|t| &t.0) == Some(&Token::PathSep)
                {
                    supers += 1;
                    j += 2;
                }
                if supers > 0 && supers >= path.len() + inline.len() {
                    for target in first_segments(&tokens, j) {
                        check(target, *line);
                    }
                }
                i = j.max(i + 1);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    violations
}

/// Every `.rs` file under `dir`, relative to `root`, with `/` separators.
fn rust_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(root).expect("under src/");
            out.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn no_module_imports_one_later_in_the_flow() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &src, &mut files);
    assert!(files.len() > 50, "found only {files:?}");
    let mut violations = Vec::new();
    for file in files.iter().filter(|f| *f != "main.rs") {
        let text = std::fs::read_to_string(src.join(file)).expect("read a source file");
        violations.extend(check_file(file, &text, FLOW));
    }
    let shown: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert!(
        shown.is_empty(),
        "imports against the flow:\n{}",
        shown.join("\n")
    );
}

#[test]
fn every_top_level_module_has_a_place_in_the_flow() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &src, &mut files);
    let modules: BTreeSet<String> = files
        .iter()
        .filter(|f| *f != "main.rs" && *f != "lib.rs")
        .filter_map(|f| module_path(f).into_iter().next())
        .collect();
    let missing: Vec<&String> = modules
        .iter()
        .filter(|m| !FLOW.contains(&m.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "src/ modules missing from FLOW: {missing:?}"
    );
    // lib.rs declares the modules in the flow's order, so it reads as the flow does.
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("read lib.rs");
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';'))
        .collect();
    let in_flow: Vec<&str> = FLOW
        .iter()
        .copied()
        .filter(|m| declared.contains(m))
        .collect();
    assert_eq!(
        declared, in_flow,
        "lib.rs lists the modules out of the flow's order"
    );
}

// The checker itself, on small made-up files: it must be able to fail.

fn imports(file: &str, text: &str) -> Vec<(usize, String)> {
    check_file(file, text, FLOW)
        .into_iter()
        .map(|v| (v.line, v.imports))
        .collect()
}

#[test]
fn checker_flags_a_path_to_a_later_module() {
    let text = "use crate::render::Gpu;\nuse crate::train::data::sha256_hex;\n";
    assert_eq!(
        imports("dataset/generate.rs", text),
        [(2, "train".to_string())]
    );
    // The same path from a later module is fine.
    assert!(imports("eval/run.rs", text).is_empty());
    // Outside `use` lines too.
    let call = "fn f() {\n    let x = crate::gui::util::duration_text(1.0);\n}\n";
    assert_eq!(imports("metrics.rs", call), [(2, "gui".to_string())]);
}

#[test]
fn checker_reads_groups() {
    let text = "use crate::{\n    fsio::write_atomic,\n    dataset::{layout, Manifest},\n    eval::Report,\n};\n";
    assert_eq!(imports("train/data.rs", text), [(1, "eval".to_string())]);
    assert_eq!(imports("rng.rs", text).len(), 3);
}

#[test]
fn checker_follows_super_to_the_root_only() {
    let climbs = "use super::super::eval::types::Confusion;\n";
    assert_eq!(
        imports("inspect/calibration.rs", climbs),
        [(1, "eval".to_string())]
    );
    assert_eq!(imports("gui/inspect.rs", climbs), Vec::new());
    // Within a module, and from an inline test module, `super` stays home.
    let local = "use super::model::InspectError;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    fn f() { super::super::helper(); }\n}\n";
    assert!(imports("inspect/descent.rs", local).is_empty());
    let top = "fn f() {}\nmod tests {\n    use super::*;\n}\nfn g() { super::cli::run(); }\n";
    assert_eq!(imports("metrics.rs", top), [(5, "cli".to_string())]);
}

#[test]
fn checker_ignores_comments_and_literals_and_names_unknown_modules() {
    let text = "// crate::gui is later\n/* crate::cli /* nested */ too */\nconst A: &str = \"crate::eval\";\nconst B: &str = r#\"crate::eval \" \"#;\nconst C: char = '\"';\nfn f<'a>(x: &'a str) -> &'a str { x }\n";
    assert!(
        imports("rng.rs", text).is_empty(),
        "{:?}",
        imports("rng.rs", text)
    );
    let unknown = "use crate::pose::refine;\n";
    let found = check_file("dataset/mod.rs", unknown, FLOW);
    assert_eq!(found.len(), 1);
    assert!(
        found[0].to_string().contains("not in the flow"),
        "{}",
        found[0]
    );
}
