//! Reading p0f.fp databases: `classes`, `[tcp:request]`, `[tcp:response]`, `[mtu]`.
//! Other sections (`[http:*]`) are passed over and reported. Every problem is
//! collected with its place (`file:line:column: message: text`), not just the first,
//! and the value rules are p0f 3.09b's (readfp.c, fp_tcp.c `tcp_register_sig`).
//!
//! osfp's own rules ride in comments, which p0f skips, so a database that has them is
//! still a p0f database and one without them (p0f's own) is matched exactly as p0f does:
//! - `;@osfp fuzzy-ttl = class`: a signature's TTL matches fuzzily only an observed TTL
//!   of the same initial-TTL class (32, 64, 128, 255), never across classes (p0f:
//!   any TTL above the signature's, or more than 35 below it);
//! - `;@osfp next-label = candidate`: the next label's matches are candidates, not
//!   verdicts: the middlebox undo and the classifier decide first, the match is the
//!   verdict only when they cannot (and in strict mode, which is p0f's matching).
//!
//! Every database also gets the classifier's labels (one per class of the embedded
//! model, [`Label::inferred`], no signatures), so that inferred verdicts are labels
//! like any other for the source table, the metrics and reloads.

use std::{fmt, path::Path};

use super::{
    family::Family,
    quirks::Quirks,
    sig::{Direction, MAX_DIST, MAX_OPTS},
};

/// One problem in a database file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbError {
    pub file: String,
    /// 1-based; 0 for a file that could not be read.
    pub line: u32,
    /// 1-based, in characters from the start of the line.
    pub column: u32,
    pub message: String,
    /// The offending text.
    pub text: String,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.message, self.text
        )
    }
}

/// Every problem found in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbErrors(pub Vec<DbError>);

impl fmt::Display for DbErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DbErrors {}

/// A `label = type:class:name:flavor` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// Index into [`Database::labels`].
    pub id: u32,
    /// `g`: used only when no specific signature matches.
    pub generic: bool,
    /// `win`, `unix`, `other`...; `None` for `!` (a tool or application).
    pub class: Option<String>,
    /// As first spelled in the file (p0f folds names case-insensitively).
    pub name: String,
    pub flavor: String,
    pub family: Family,
    pub direction: Direction,
    pub line: u32,
    /// `sys = ...` of a tool label.
    pub sys: Vec<String>,
    /// A label of the classifier (no signatures): see [`Database::inferred`].
    pub inferred: bool,
    /// `;@osfp next-label = candidate`: a match of this label is a candidate only.
    pub candidate: bool,
}

impl Label {
    pub fn is_tool(&self) -> bool {
        self.class.is_none()
    }

    /// `name flavor`, as p0f prints it.
    pub fn display_name(&self) -> String {
        if self.flavor.is_empty() {
            self.name.clone()
        } else {
            format!("{} {}", self.name, self.flavor)
        }
    }
}

/// A signature's window rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WinSpec {
    Any,
    Value(u16),
    /// `%N`: a multiple of N.
    Mod(u16),
    /// `mss*N`.
    Mss(u16),
    /// `mtu*N`.
    Mtu(u16),
}

/// One `sig = ...` line of a TCP section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbSig {
    /// Index into [`Database::labels`].
    pub label: u32,
    pub line: u32,
    /// `None` for `*`.
    pub ver: Option<u8>,
    /// Initial TTL (with any `+D` added).
    pub ttl: u8,
    /// `N-`: the tool randomises TTL; the observed one need only be <= N.
    pub bad_ttl: bool,
    pub olen: u8,
    pub mss: Option<u16>,
    pub win: WinSpec,
    pub wscale: Option<u8>,
    pub layout: [u8; MAX_OPTS],
    pub opt_cnt: u8,
    pub eol_pad: u8,
    pub quirks: u32,
    /// `None` for `*`; `Some(true)` for `+`.
    pub pclass: Option<bool>,
    pub generic: bool,
    pub tool: bool,
}

impl DbSig {
    pub fn layout(&self) -> &[u8] {
        &self.layout[..self.opt_cnt as usize]
    }
}

/// An `[mtu]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MtuSig {
    pub mtu: u16,
    pub label: String,
    pub line: u32,
}

/// A section passed over (not a TCP or MTU one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedSection {
    pub name: String,
    pub line: u32,
    /// `sig` lines in it.
    pub sigs: u32,
}

/// A loaded database, indexed for matching (see `matcher`).
#[derive(Clone, Debug)]
pub struct Database {
    pub name: String,
    pub classes: Vec<String>,
    pub labels: Vec<Label>,
    /// By direction, in file order (p0f's match order).
    pub sigs: [Vec<DbSig>; 2],
    pub mtu: Vec<MtuSig>,
    pub skipped: Vec<SkippedSection>,
    /// By direction: option-layout key -> signature indices in file order.
    pub(crate) index: [super::matcher::LayoutIndex; 2],
    /// `;@osfp fuzzy-ttl = class`: fuzzy TTL matches only within an initial-TTL class.
    pub fuzzy_ttl_class: bool,
    /// Label ids of the classifier's classes, in the embedded model's class order.
    pub inferred: Vec<u32>,
    /// Names this parse for caches of what it answers (each parse its own number; a
    /// database is not changed once parsed).
    pub instance: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    Tcp(Direction),
    Mtu,
    Skipped,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    NeedSection,
    NeedLabel,
    NeedSys,
    NeedSig,
    /// The current label was rejected: its sys/sig lines are passed over quietly.
    BadLabel,
}

struct Parser<'a> {
    file: &'a str,
    errors: Vec<DbError>,
    db: Database,
    section: Section,
    state: State,
    /// Current label index (TCP) or text (MTU).
    label: Option<u32>,
    mtu_label: Option<String>,
    /// Labels seen in this section, for duplicate detection: (text, line).
    section_labels: Vec<(String, u32)>,
    /// A `;@osfp next-label = candidate` waits for its label.
    next_candidate: bool,
}

impl Database {
    /// Reads and parses a file; every problem is in the error.
    pub fn load(path: impl AsRef<Path>) -> Result<Database, DbErrors> {
        let path = path.as_ref();
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Database::parse(&text, &name),
            Err(e) => Err(DbErrors(vec![DbError {
                file: name,
                line: 0,
                column: 0,
                message: "cannot read".into(),
                text: e.to_string(),
            }])),
        }
    }

    /// Parses database text; `name` is used in error locations.
    pub fn parse(text: &str, name: &str) -> Result<Database, DbErrors> {
        let (db, errors) = Database::parse_lenient(text, name);
        if errors.is_empty() {
            Ok(db)
        } else {
            Err(DbErrors(errors))
        }
    }

    /// Parses what can be parsed, and returns every problem beside it.
    pub fn parse_lenient(text: &str, name: &str) -> (Database, Vec<DbError>) {
        let mut p = Parser {
            file: name,
            errors: Vec::new(),
            db: Database {
                name: name.to_string(),
                classes: Vec::new(),
                labels: Vec::new(),
                sigs: [Vec::new(), Vec::new()],
                mtu: Vec::new(),
                skipped: Vec::new(),
                index: Default::default(),
                fuzzy_ttl_class: false,
                inferred: Vec::new(),
                instance: {
                    static NEXT: std::sync::atomic::AtomicU64 =
                        std::sync::atomic::AtomicU64::new(1);
                    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                },
            },
            section: Section::None,
            state: State::NeedSection,
            label: None,
            mtu_label: None,
            section_labels: Vec::new(),
            next_candidate: false,
        };
        for (i, raw) in text.split('\n').enumerate() {
            p.line(i as u32 + 1, raw.strip_suffix('\r').unwrap_or(raw));
        }
        let mut db = p.db;
        db.add_inferred_labels();
        db.build_index();
        (db, p.errors)
    }

    /// Appends one label per class of the embedded model (see [`Label::inferred`]).
    fn add_inferred_labels(&mut self) {
        for c in super::model::embedded().classes() {
            let (class, name, flavor) = inferred_label(c);
            let id = self.labels.len() as u32;
            self.labels.push(Label {
                id,
                generic: false,
                class: Some(class.to_string()),
                family: Family::of_label(false, name, flavor),
                name: name.to_string(),
                flavor: flavor.to_string(),
                direction: Direction::Request,
                line: 0,
                sys: Vec::new(),
                inferred: true,
                candidate: false,
            });
            self.inferred.push(id);
        }
    }

    /// Labels of the file itself (not the classifier's).
    pub fn file_labels(&self) -> impl Iterator<Item = &Label> {
        self.labels.iter().filter(|l| !l.inferred)
    }

    pub fn label(&self, i: u32) -> &Label {
        &self.labels[i as usize]
    }

    /// Signature count per direction.
    pub fn sig_count(&self, d: Direction) -> usize {
        self.sigs[d as usize].len()
    }

    /// The `[mtu]` label of an MTU, if listed.
    pub fn link(&self, mtu: u32) -> Option<&str> {
        self.mtu
            .iter()
            .find(|m| m.mtu as u32 == mtu)
            .map(|m| m.label.as_str())
    }
}

/// The label of a classifier class: (class, name, flavor). iOS and macOS are one stack
/// on the wire (xnu), ChromeOS is Linux: the labels say so rather than guess.
pub fn inferred_label(class: &str) -> (&'static str, &str, &'static str) {
    match class {
        "windows:10/11" => ("win", "Windows", "10 or 11"),
        "windows:7/8" => ("win", "Windows", "7 or 8"),
        "windows:xp" => ("win", "Windows", "XP"),
        "windows" => ("win", "Windows", ""),
        "android" => ("unix", "Android", ""),
        "apple" => ("unix", "macOS", "(also iOS)"),
        "linux" => ("unix", "Linux", "(also ChromeOS)"),
        "bsd" => ("unix", "BSD", ""),
        "embedded" => ("other", "Embedded", "device"),
        "other" => ("other", "Other", "OS"),
        c => ("other", c, ""),
    }
}

/// Column (1-based, in chars) of a sub-slice within its line.
fn col(line: &str, part: &str) -> u32 {
    let off = (part.as_ptr() as usize).saturating_sub(line.as_ptr() as usize);
    line.get(..off.min(line.len()))
        .map_or(off, |s| s.chars().count()) as u32
        + 1
}

impl Parser<'_> {
    fn err(&mut self, line_no: u32, line: &str, at: &str, message: impl Into<String>) {
        self.errors.push(DbError {
            file: self.file.to_string(),
            line: line_no,
            column: col(line, at),
            message: message.into(),
            text: at.to_string(),
        });
    }

    fn line(&mut self, no: u32, line: &str) {
        let t = line.trim_start_matches([' ', '\t']);
        let t = t.trim_end();
        if let Some(d) = t.strip_prefix(";@osfp") {
            self.directive(no, line, d);
            return;
        }
        if t.is_empty() || t.starts_with(';') {
            return;
        }
        if let Some(rest) = t.strip_prefix('[') {
            self.section_header(no, line, t, rest);
            return;
        }
        if self.section == Section::Skipped {
            if let Some(s) = self.db.skipped.last_mut() {
                if t.starts_with("sig") {
                    s.sigs += 1;
                }
            }
            return;
        }
        // name = value
        let name_end = t
            .find(|c: char| !(c.is_ascii_alphabetic() || c == '_'))
            .unwrap_or(t.len());
        let key = &t[..name_end];
        let after = t[name_end..].trim_start_matches([' ', '\t']);
        let Some(value) = after.strip_prefix('=') else {
            self.err(no, line, t, "expected 'name = value'");
            return;
        };
        let value = value.trim_start_matches([' ', '\t']);
        if key.is_empty() {
            self.err(no, line, t, "expected 'name = value'");
            return;
        }
        match key {
            "classes" => self.classes(no, line, value),
            "label" => self.label_line(no, line, value),
            "sys" => self.sys(no, line, value),
            "sig" => self.sig_line(no, line, value),
            "ua_os" => {}
            _ => self.err(no, line, key, "unknown field"),
        }
    }

    /// `;@osfp key = value` (osfp's rules; p0f reads a comment).
    fn directive(&mut self, no: u32, line: &str, d: &str) {
        let d = d.trim();
        let Some((k, v)) = d.split_once('=') else {
            self.err(no, line, d, "expected ';@osfp key = value'");
            return;
        };
        match (k.trim(), v.trim()) {
            ("fuzzy-ttl", "class") => self.db.fuzzy_ttl_class = true,
            ("fuzzy-ttl", "p0f") => self.db.fuzzy_ttl_class = false,
            ("fuzzy-ttl", other) => self.err(no, line, other, "fuzzy-ttl must be 'class' or 'p0f'"),
            ("next-label", "candidate") => self.next_candidate = true,
            ("next-label", other) => self.err(no, line, other, "next-label must be 'candidate'"),
            (other, _) => self.err(
                no,
                line,
                other,
                "unknown osfp directive (fuzzy-ttl, next-label)",
            ),
        }
    }

    fn section_header(&mut self, no: u32, line: &str, t: &str, rest: &str) {
        self.section_labels.clear();
        self.label = None;
        self.mtu_label = None;
        self.state = State::NeedLabel;
        let Some(inner) = rest.strip_suffix(']') else {
            self.err(no, line, t, "malformed section header");
            self.section = Section::Skipped;
            self.db.skipped.push(SkippedSection {
                name: t.to_string(),
                line: no,
                sigs: 0,
            });
            return;
        };
        self.section = match inner {
            "tcp:request" => Section::Tcp(Direction::Request),
            "tcp:response" => Section::Tcp(Direction::Response),
            "mtu" => Section::Mtu,
            "http:request" | "http:response" => Section::Skipped,
            _ => {
                self.err(no, line, t, "unknown section");
                Section::Skipped
            }
        };
        if self.section == Section::Skipped {
            self.db.skipped.push(SkippedSection {
                name: inner.to_string(),
                line: no,
                sigs: 0,
            });
        }
    }

    fn classes(&mut self, no: u32, line: &str, value: &str) {
        if self.section != Section::None {
            self.err(no, line, value, "'classes' must come before any section");
            return;
        }
        for c in value.split(',') {
            let c = c.trim_matches([' ', '\t']);
            if c.is_empty() || !c.chars().all(|ch| ch.is_ascii_alphanumeric()) {
                self.err(no, line, c, "malformed class");
            } else {
                self.db.classes.push(c.to_string());
            }
        }
    }

    fn label_line(&mut self, no: u32, line: &str, value: &str) {
        match self.section {
            Section::None => {
                self.err(no, line, value, "label outside any section");
                return;
            }
            Section::Mtu => {
                if value.is_empty() {
                    self.err(no, line, line.trim(), "empty MTU label");
                    self.state = State::BadLabel;
                } else {
                    self.mtu_label = Some(value.to_string());
                    self.state = State::NeedSig;
                }
                return;
            }
            _ => {}
        }
        let Section::Tcp(dir) = self.section else {
            return;
        };
        if self.state == State::NeedSys {
            let prev = self.label.map(|l| self.db.labels[l as usize].line);
            self.err(
                no,
                line,
                value,
                format!(
                    "label follows a '!' label with no 'sys' line (line {})",
                    prev.unwrap_or(0)
                ),
            );
        }
        self.state = State::BadLabel;
        self.label = None;
        let mut parts = value.splitn(4, ':');
        let (ty, class, name, flavor) = (
            parts.next().unwrap_or(""),
            parts.next(),
            parts.next(),
            parts.next(),
        );
        let (Some(class), Some(name), Some(flavor)) = (class, name, flavor) else {
            self.err(
                no,
                line,
                value,
                "malformed label (want type:class:name:flavor)",
            );
            return;
        };
        let generic = match ty {
            "g" => true,
            "s" => false,
            _ => {
                self.err(no, line, ty, "label type must be 's' or 'g'");
                return;
            }
        };
        let class_v = if class == "!" {
            None
        } else if class.is_empty() || !class.chars().all(|c| c.is_ascii_alphanumeric()) {
            self.err(no, line, class, "malformed class");
            return;
        } else if let Some(c) = self
            .db
            .classes
            .iter()
            .find(|c| c.eq_ignore_ascii_case(class))
        {
            Some(c.clone())
        } else {
            self.err(no, line, class, "unknown class");
            return;
        };
        const NAME_CHARS: &str = " ./-_!?()";
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || NAME_CHARS.contains(c))
        {
            self.err(no, line, name, "malformed name");
            return;
        }
        let key = value.to_string();
        if let Some((_, first)) = self.section_labels.iter().find(|(l, _)| *l == key) {
            let first = *first;
            self.err(
                no,
                line,
                value,
                format!("duplicate label (first at line {first})"),
            );
            return;
        }
        self.section_labels.push((key, no));
        // p0f folds names case-insensitively and prints the first spelling.
        let name = self
            .db
            .labels
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name))
            .map_or_else(|| name.to_string(), |l| l.name.clone());
        let tool = class_v.is_none();
        self.db.labels.push(Label {
            id: self.db.labels.len() as u32,
            generic,
            family: Family::of_label(tool, &name, flavor),
            class: class_v,
            name,
            flavor: flavor.to_string(),
            direction: dir,
            line: no,
            sys: Vec::new(),
            inferred: false,
            candidate: std::mem::take(&mut self.next_candidate),
        });
        self.label = Some(self.db.labels.len() as u32 - 1);
        self.state = if tool { State::NeedSys } else { State::NeedSig };
    }

    fn sys(&mut self, no: u32, line: &str, value: &str) {
        match self.state {
            State::BadLabel => return,
            State::NeedSys => {}
            _ => {
                self.err(no, line, value, "'sys' only follows a '!' label");
                return;
            }
        }
        let mut sys = Vec::new();
        for s in value.split(',') {
            let s = s.trim_matches([' ', '\t']);
            let bare = s.strip_prefix('@').unwrap_or(s);
            if bare.is_empty() {
                self.err(no, line, s, "malformed sys entry");
                continue;
            }
            if s.starts_with('@') && !self.db.classes.iter().any(|c| c.eq_ignore_ascii_case(bare)) {
                self.err(no, line, s, "unknown class");
                continue;
            }
            sys.push(s.to_string());
        }
        if let Some(l) = self.label {
            self.db.labels[l as usize].sys = sys;
        }
        self.state = State::NeedSig;
    }

    fn sig_line(&mut self, no: u32, line: &str, value: &str) {
        match self.state {
            State::BadLabel => return,
            State::NeedSig => {}
            State::NeedSys => {
                self.err(no, line, value, "sig before 'sys' of a '!' label");
                return;
            }
            State::NeedLabel | State::NeedSection => {
                self.err(no, line, value, "sig before any label");
                return;
            }
        }
        match self.section {
            Section::Mtu => {
                let ok = !value.is_empty() && value.chars().all(|c| c.is_ascii_digit());
                match value.parse::<u32>() {
                    Ok(m) if ok && (1..=65535).contains(&m) => self.db.mtu.push(MtuSig {
                        mtu: m as u16,
                        label: self.mtu_label.clone().unwrap_or_default(),
                        line: no,
                    }),
                    _ => self.err(no, line, value, "MTU must be 1..65535"),
                }
            }
            Section::Tcp(dir) => {
                let Some(label) = self.label else { return };
                let l = &self.db.labels[label as usize];
                let (generic, tool) = (l.generic, l.is_tool());
                if let Some(s) = self.tcp_sig(no, line, value, label, generic, tool) {
                    let list = &self.db.sigs[dir as usize];
                    if let Some(prev) = list.iter().find(|r| covers(r, &s)) {
                        let prev = prev.line;
                        self.err(
                            no,
                            line,
                            value,
                            format!("signature already covered by line {prev}"),
                        );
                    } else {
                        self.db.sigs[dir as usize].push(s);
                    }
                }
            }
            _ => {}
        }
    }

    fn tcp_sig(
        &mut self,
        no: u32,
        line: &str,
        value: &str,
        label: u32,
        generic: bool,
        tool: bool,
    ) -> Option<DbSig> {
        let f: Vec<&str> = value.split(':').collect();
        if f.len() != 8 {
            self.err(
                no,
                line,
                value,
                format!("signature has {} fields, want 8 (ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass)", f.len()),
            );
            return None;
        }
        let before = self.errors.len();
        let ver = match f[0] {
            "4" => Some(4),
            "6" => Some(6),
            "*" => None,
            x => {
                self.err(no, line, x, "IP version must be 4, 6 or *");
                None
            }
        };
        // ittl: N, N+D, N-
        let (ttl, bad_ttl) = self.ittl(no, line, f[1]);
        let olen = self
            .num(no, line, f[2], 255, "IP option length")
            .unwrap_or(0) as u8;
        let mss = if f[3] == "*" {
            None
        } else {
            self.num(no, line, f[3], 65535, "MSS").map(|v| v as u16)
        };
        let (wsize, scale) = match f[4].split_once(',') {
            Some(x) => x,
            None => {
                self.err(no, line, f[4], "window field must be wsize,scale");
                (f[4], "*")
            }
        };
        let win = self.window(no, line, wsize);
        let wscale = if scale == "*" {
            None
        } else {
            self.num(no, line, scale, 255, "window scale")
                .map(|v| v as u8)
        };
        let (layout, opt_cnt, eol_pad) = self.layout(no, line, f[5]);
        let mut quirks = 0;
        if !f[6].is_empty() {
            for q in f[6].split(',') {
                match Quirks::bit(q) {
                    Some(b) => {
                        if ver == Some(6) && b & Quirks::IPV4_ONLY != 0 {
                            self.err(no, line, q, "quirk not valid for IPv6");
                        } else if ver == Some(4) && b == Quirks::FLOW {
                            self.err(no, line, q, "quirk not valid for IPv4");
                        }
                        quirks |= b;
                    }
                    None => self.err(no, line, q, "unknown quirk"),
                }
            }
        }
        let pclass = match f[7] {
            "*" => None,
            "0" => Some(false),
            "+" => Some(true),
            x => {
                self.err(no, line, x, "payload class must be 0, + or *");
                None
            }
        };
        if self.errors.len() != before {
            return None;
        }
        Some(DbSig {
            label,
            line: no,
            ver,
            ttl,
            bad_ttl,
            olen,
            mss,
            win: win?,
            wscale,
            layout,
            opt_cnt,
            eol_pad,
            quirks,
            pclass,
            generic,
            tool,
        })
    }

    /// A decimal number with an inclusive maximum.
    fn num(&mut self, no: u32, line: &str, s: &str, max: u32, what: &str) -> Option<u32> {
        if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
            self.err(no, line, s, format!("{what}: not a number"));
            return None;
        }
        match s.parse::<u32>() {
            Ok(v) if v <= max => Some(v),
            _ => {
                self.err(no, line, s, format!("{what} out of range (max {max})"));
                None
            }
        }
    }

    fn ittl(&mut self, no: u32, line: &str, s: &str) -> (u8, bool) {
        let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (n, rest) = s.split_at(digits);
        let Some(base) = self.num(no, line, n, 255, "initial TTL") else {
            return (0, false);
        };
        if base < 1 {
            self.err(no, line, s, "initial TTL must be 1..255");
            return (0, false);
        }
        match rest {
            "" => (base as u8, false),
            "-" => (base as u8, true),
            r if r.starts_with('+') => match self.num(no, line, &r[1..], 255, "TTL distance") {
                Some(d) if base + d <= 255 => ((base + d) as u8, false),
                Some(_) => {
                    self.err(no, line, s, "initial TTL + distance exceeds 255");
                    (0, false)
                }
                None => (0, false),
            },
            r => {
                self.err(no, line, r, "malformed initial TTL (want N, N+D or N-)");
                (0, false)
            }
        }
    }

    fn window(&mut self, no: u32, line: &str, s: &str) -> Option<WinSpec> {
        if s == "*" {
            return Some(WinSpec::Any);
        }
        if let Some(m) = s.strip_prefix('%') {
            let v = self.num(no, line, m, 65535, "window modulus")?;
            if v < 2 {
                self.err(no, line, s, "window modulus must be 2..65535");
                return None;
            }
            return Some(WinSpec::Mod(v as u16));
        }
        for (p, mtu) in [("mss*", false), ("mtu*", true)] {
            if let Some(m) = s.strip_prefix(p) {
                let v = self.num(no, line, m, 1000, "window multiplier")?;
                if v < 1 {
                    self.err(no, line, s, "window multiplier must be 1..1000");
                    return None;
                }
                let v = v as u16;
                return Some(if mtu {
                    WinSpec::Mtu(v)
                } else {
                    WinSpec::Mss(v)
                });
            }
        }
        self.num(no, line, s, 65535, "window size")
            .map(|v| WinSpec::Value(v as u16))
    }

    fn layout(&mut self, no: u32, line: &str, s: &str) -> ([u8; MAX_OPTS], u8, u8) {
        let mut layout = [0u8; MAX_OPTS];
        let mut cnt = 0usize;
        let mut eol_pad = 0u8;
        if s.is_empty() {
            return (layout, 0, 0);
        }
        let items: Vec<&str> = s.split(',').collect();
        for (i, item) in items.iter().enumerate() {
            if cnt >= MAX_OPTS {
                self.err(no, line, item, "too many TCP options (max 24)");
                break;
            }
            let kind = match *item {
                "nop" => 1,
                "mss" => 2,
                "ws" => 3,
                "sok" => 4,
                "sack" => 5,
                "ts" => 8,
                x if x.starts_with("eol+") => {
                    if i + 1 != items.len() {
                        self.err(no, line, x, "eol must be the last option");
                    }
                    if let Some(p) = self.num(no, line, &x[4..], 255, "EOL padding") {
                        eol_pad = p as u8;
                    }
                    0
                }
                x if x.starts_with('?') => match self.num(no, line, &x[1..], 255, "option kind") {
                    Some(k) => k as u8,
                    None => continue,
                },
                x => {
                    self.err(no, line, x, "unknown TCP option");
                    continue;
                }
            };
            layout[cnt] = kind;
            cnt += 1;
        }
        (layout, cnt as u8, eol_pad)
    }
}

/// p0f's duplicate test (tcp_find_match in `dupe_det` mode): does the existing
/// specific signature `r` already match everything `s` would?
fn covers(r: &DbSig, s: &DbSig) -> bool {
    if r.generic || r.layout() != s.layout() {
        return false;
    }
    let mut rq = r.quirks;
    if r.ver.is_none() {
        rq &= if s.ver == Some(4) {
            !Quirks::FLOW
        } else {
            !Quirks::MASK_FOR_V6
        };
    }
    if rq != s.quirks || r.eol_pad != s.eol_pad || r.olen != s.olen {
        return false;
    }
    if r.bad_ttl {
        if r.ttl < s.ttl {
            return false;
        }
    } else if r.ttl < s.ttl || r.ttl - s.ttl > MAX_DIST {
        return false;
    }
    let wild = |a: Option<u16>, b: Option<u16>| a.is_none() || a == b;
    if !wild(r.mss, s.mss)
        || !wild(r.wscale.map(u16::from), s.wscale.map(u16::from))
        || !(r.pclass.is_none() || r.pclass == s.pclass)
    {
        return false;
    }
    match (s.win, r.win) {
        (WinSpec::Value(w), WinSpec::Value(rw)) => w == rw,
        (WinSpec::Value(w), WinSpec::Mod(m)) => w.is_multiple_of(m),
        (WinSpec::Value(w), WinSpec::Mss(n) | WinSpec::Mtu(n)) => {
            // A signature's window tested as a packet's: only a literal MSS >= 100
            // can make it a multiple (p0f's detect_win_multi on the sig itself).
            let mtu_rule = matches!(r.win, WinSpec::Mtu(_));
            match s.mss {
                Some(mss) if mss >= 100 && w != 0 => {
                    let mss = mss as u32;
                    let w = w as u32;
                    let tries = [
                        (mss, false),
                        (1460, false),
                        (1448, false),
                        (mss + 40, true),
                        (mss, true), // tot_hdr is 0 for a signature
                        (1500, true),
                    ];
                    tries
                        .iter()
                        .find(|(d, _)| *d != 0 && w.is_multiple_of(*d))
                        .is_some_and(|&(d, m)| m == mtu_rule && (w / d) as u16 == n)
                }
                _ => false,
            }
        }
        (WinSpec::Value(_), WinSpec::Any) => true,
        (sw, rw) => sw == rw,
    }
}
