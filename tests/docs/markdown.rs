//! The fenced blocks of a Markdown file, each with the `<!-- doctest: ... -->` comment right
//! above it (if any) and the prose since the previous block, found the way CommonMark does
//! (pulldown-cmark), so a fence indented in a list item counts too.

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};

/// One fenced code block.
#[derive(Debug, Clone)]
pub struct Block {
    /// `README.md:22`: the file and the line of the opening fence.
    pub at: String,
    /// The line of the opening fence (1-based).
    pub line: usize,
    /// The info string's first word (`sh`, `console`, `json`, `rust,no_run` → `rust`).
    pub lang: String,
    /// The content, dedented as CommonMark does, ending with a newline.
    pub text: String,
    /// The directive comment above the block, parsed.
    pub directive: Directive,
    /// The Markdown between the previous block (or the file's start) and this one.
    pub prose: String,
}

/// What the `<!-- doctest: ITEM; ITEM -->` comment above a block asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Directive {
    pub kind: Kind,
    /// `exit N`: the exit code the (last) command must end with; 0 without it.
    pub exit: i32,
    /// `stderr`: compare the command's stderr instead of its stdout.
    pub stderr: bool,
    /// `numbers`: every number is redacted (rates, latencies, CPU, memory, counts by time).
    pub numbers: bool,
    /// `unordered`: the lines may come in any order.
    pub unordered: bool,
    /// `replaces` (with `background`): the background blocks still running are stopped
    /// first, as a reader would press Ctrl-C before starting the next server.
    pub replaces: bool,
    /// The comment as written, for messages.
    pub raw: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum Kind {
    /// No comment: shell blocks run, others are looked at by their language.
    #[default]
    Default,
    /// `run`: run it (a shell block with bash, a `python` block with python3).
    Run,
    /// `background`: run it without waiting for the end (a server); the next block starts
    /// once it wrote its first line (`background stderr`: on stderr).
    Background { stderr: bool },
    /// `flags: WHY`: it needs the internet or a real account; each `mailtrip` command in it
    /// is parsed by mailtrip's own argument parser, and nothing runs.
    Flags(String),
    /// `skip: WHY`: neither run nor parsed.
    Skip(String),
    /// `file PATH`: written to PATH in the work directory for later blocks.
    File(String),
    /// `config [PATH]`: a mailtrip TOML config file, parsed (unknown keys are errors), and
    /// written to PATH when given.
    Config(Option<String>),
    /// `faults [PATH]`: a `--faults` TOML file, parsed, and written to PATH when given.
    Faults(Option<String>),
    /// `output`: what the previous block that ran printed.
    Output,
    /// `output of CMD`: what CMD prints; CMD must appear in the prose above the block.
    OutputOf(String),
}

impl Directive {
    fn parse(raw: &str, at: &str) -> Directive {
        let mut d = Directive {
            raw: raw.to_string(),
            ..Directive::default()
        };
        // A reason (`skip: WHY`, `flags: WHY`) runs to the end of the comment.
        let items: Vec<&str> = if raw.starts_with("skip") || raw.starts_with("flags") {
            vec![raw]
        } else {
            raw.split(';').map(str::trim).collect()
        };
        for (i, item) in items.into_iter().enumerate() {
            let (word, rest) = item.split_once([' ', ':']).unwrap_or((item, ""));
            let rest = rest.trim_start_matches(':').trim();
            let kind = match word {
                "run" => Some(Kind::Run),
                "background" => Some(Kind::Background {
                    stderr: rest == "stderr",
                }),
                "flags" => Some(Kind::Flags(rest.to_string())),
                "skip" => Some(Kind::Skip(rest.to_string())),
                "file" => Some(Kind::File(rest.to_string())),
                "config" => Some(Kind::Config((!rest.is_empty()).then(|| rest.to_string()))),
                "faults" => Some(Kind::Faults((!rest.is_empty()).then(|| rest.to_string()))),
                "output" if rest.is_empty() => Some(Kind::Output),
                "output" => Some(Kind::OutputOf(
                    rest.strip_prefix("of")
                        .unwrap_or_else(|| panic!("{at}: `output of CMD`, not `{item}`"))
                        .trim()
                        .trim_matches('`')
                        .to_string(),
                )),
                "exit" => {
                    d.exit = rest
                        .parse()
                        .unwrap_or_else(|_| panic!("{at}: `exit N`, not `{item}`"));
                    None
                }
                "stderr" => {
                    d.stderr = true;
                    None
                }
                "numbers" => {
                    d.numbers = true;
                    None
                }
                "unordered" => {
                    d.unordered = true;
                    None
                }
                "replaces" => {
                    d.replaces = true;
                    None
                }
                _ => panic!("{at}: unknown doctest directive `{item}` in `{raw}`"),
            };
            if let Some(kind) = kind {
                assert!(i == 0, "{at}: `{item}` must come first in `{raw}`");
                if let Kind::Flags(why) | Kind::Skip(why) = &kind {
                    assert!(
                        !why.is_empty(),
                        "{at}: `{word}` needs a reason: `{word}: WHY`"
                    );
                }
                d.kind = kind;
            }
        }
        d
    }
}

/// Every fenced block of `text` (the file `name`).
pub fn blocks(name: &str, text: &str) -> Vec<Block> {
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut prose_start = 0;
    let mut open: Option<(usize, String, String)> = None;
    for (event, range) in Parser::new(text).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                open = Some((range.start, info.to_string(), String::new()));
            }
            Event::Text(t) if open.is_some() => open.as_mut().unwrap().2.push_str(&t),
            Event::End(TagEnd::CodeBlock) => {
                let Some((start, info, body)) = open.take() else {
                    continue; // an indented code block
                };
                let line = line_of(start);
                let at = format!("{name}:{line}");
                // The line start of the fence (it may be indented in a list item).
                let fence_line = text[..start].rfind('\n').map_or(0, |i| i + 1);
                let before = &text[prose_start.min(fence_line)..fence_line];
                let directive = directive_above(before)
                    .map(|raw| Directive::parse(raw, &at))
                    .unwrap_or_default();
                let lang = info
                    .split([',', ' '])
                    .next()
                    .unwrap_or_default()
                    .to_string();
                out.push(Block {
                    at,
                    line,
                    lang,
                    text: body,
                    directive,
                    prose: before.to_string(),
                });
                prose_start = range.end;
            }
            _ => {}
        }
    }
    out
}

/// `text` with the content of the block whose opening fence is on `line` replaced by `body`.
pub fn replace_block(text: &str, line: usize, body: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let close = (line..lines.len())
        .find(|&i| lines[i].trim_start().starts_with("```"))
        .expect("a closing fence");
    let mut out: String = lines[..line].concat();
    out.push_str(body.trim_end());
    out.push('\n');
    out.push_str(&lines[close..].concat());
    out
}

/// The `doctest:` comment on the last non-blank line before a fence.
fn directive_above(before: &str) -> Option<&str> {
    let last = before.lines().rev().find(|l| !l.trim().is_empty())?.trim();
    last.strip_prefix("<!-- doctest:")?
        .strip_suffix("-->")
        .map(str::trim)
}
