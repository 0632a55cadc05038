// SPDX-License-Identifier: GPL-2.0-or-later
//! The result document every command prints under `--json`: how the run
//! ended (`outcome`, `exit_code`, `codes`) first, then the command's own
//! report. Errors, usage errors included, get the same head around an
//! [`ErrorReport`]. docs/json-schema.md documents every field;
//! docs/schema/ holds the JSON Schemas generated from these types.

use schemars::JsonSchema;
use serde::Serialize;

use crate::error::Code;
use crate::report::{Tool, SCHEMA, TOOL};

/// How a run ended; the first field of every document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DocOutcome {
    /// A read-only command reported what it found (exit 0).
    Reported,
    /// Nothing found: no Windows installation or SYSTEM hive (exit 5).
    NotFound,
    /// Everything already as wanted: nothing written (exit 0).
    NothingToDo,
    /// `--dry-run`: planned, verified in memory and every pre-write check
    /// passed; nothing written (exit 0).
    DryRun,
    /// Written and verified (exit 0).
    Written,
    /// Written and verified, but some units were left alone (`refusals`);
    /// exit 0 (see docs/json-schema.md for why).
    Partial,
    /// A backup bundle was put back (exit 0).
    Restored,
    /// Refused for safety; nothing written (exit 3).
    Refused,
    /// Failed: malformed input, I/O, usage (exit 1 or 2).
    Error,
    /// A write failed verification; the original bytes were restored (exit 4).
    RolledBack,
    /// A write failed verification and the rollback failed (exit 6).
    RollbackFailed,
}

impl DocOutcome {
    /// The kebab-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DocOutcome::Reported => "reported",
            DocOutcome::NotFound => "not-found",
            DocOutcome::NothingToDo => "nothing-to-do",
            DocOutcome::DryRun => "dry-run",
            DocOutcome::Written => "written",
            DocOutcome::Partial => "partial",
            DocOutcome::Restored => "restored",
            DocOutcome::Refused => "refused",
            DocOutcome::Error => "error",
            DocOutcome::RolledBack => "rolled-back",
            DocOutcome::RollbackFailed => "rollback-failed",
        }
    }
}

/// How serious an [`Issue`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// The run failed.
    Error,
    /// The run (or one unit of an edit) was refused; nothing of it written.
    Refusal,
    /// Something the operator should know.
    Warning,
}

/// One error, refusal or warning, with its code and the human message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Issue {
    /// Error, refusal or warning.
    pub severity: Severity,
    /// Stable machine-readable reason (docs/json-schema.md, Codes).
    pub code: Code,
    /// The message printed for humans.
    pub message: String,
}

impl Issue {
    /// The issue of a warning: its code and message.
    pub fn warning(w: &crate::error::Warning) -> Issue {
        Issue {
            severity: Severity::Warning,
            code: w.code,
            message: w.message.clone(),
        }
    }
}

/// Every document: the head, then the command's report.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Document<T> {
    /// How the run ended.
    pub outcome: DocOutcome,
    /// The process exit code (0-6, `ntrescue --help`).
    pub exit_code: u8,
    /// The codes of every issue, each once, in order of first appearance.
    pub codes: Vec<Code>,
    /// The command's report.
    #[serde(flatten)]
    pub report: T,
    /// When, how and where this run happened (evidence records).
    pub run: crate::report::RunInfo,
    /// Fields left out of this document (their detail is printed only
    /// with `--detail`), as dotted paths.
    pub omitted: Vec<String>,
    /// Every error, refusal and warning, with its code.
    pub issues: Vec<Issue>,
    /// The head again, as the last field: a reader that keeps only the
    /// last bytes of the output (Azure Run Command keeps 4 KB) has it.
    pub end: End,
}

/// The last field of every document: how the run ended, repeated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct End {
    /// As `outcome`.
    pub outcome: DocOutcome,
    /// As `exit_code`.
    pub exit_code: u8,
    /// The backup bundle directory, when the run made one or found one
    /// (as `backup`).
    pub backup: Option<String>,
}

impl<T> Document<T> {
    /// A document around `report`; `codes` is derived from `issues`, `end`
    /// from the head (its `backup` is set with [`Document::with_backup`]).
    pub fn new(outcome: DocOutcome, exit_code: u8, issues: Vec<Issue>, report: T) -> Self {
        let mut doc = Document {
            outcome,
            exit_code,
            codes: Vec::new(),
            issues: Vec::new(),
            omitted: Vec::new(),
            report,
            run: crate::report::run_info().clone(),
            end: End {
                outcome,
                exit_code,
                backup: None,
            },
        };
        for i in issues {
            doc.push_issue(i);
        }
        doc
    }

    /// Names the backup bundle in `end`: the report's own `backup` field,
    /// for the documents that have one.
    pub fn with_backup(mut self, backup: Option<String>) -> Self {
        self.end.backup = backup;
        self
    }

    /// Adds an issue (and its code, when new).
    pub fn push_issue(&mut self, issue: Issue) {
        if !self.codes.contains(&issue.code) {
            self.codes.push(issue.code);
        }
        self.issues.push(issue);
    }
}

/// The error of a run that produced no report.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ErrorInfo {
    /// The exit code's stable name ("usage", "refused", "not-found"...).
    pub kind: &'static str,
    /// The process exit code.
    pub exit_code: u8,
    /// The machine-readable reason.
    pub code: Code,
    /// The message printed for humans.
    pub message: String,
}

/// What was given as the source: in an error document, and in the
/// documents of the commands that open no Windows source (`restore`,
/// `backups list`, `backups pack`: the bundle or directory given).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct GivenSource {
    /// The path given.
    pub path: String,
}

impl GivenSource {
    /// The source `path`.
    pub fn of(path: &std::path::Path) -> Self {
        GivenSource {
            path: path.display().to_string(),
        }
    }
}

/// What `locate` was given: the disks or images named on the command line.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct GivenPaths {
    /// The paths given, in order; empty when none was (then this
    /// machine's block devices are looked at).
    pub paths: Vec<String>,
}

/// The report of a run that failed (usage errors included).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ErrorReport {
    /// Schema tag.
    pub schema: &'static str,
    /// Tool.
    pub tool: Tool,
    /// The command, as far as it could be told ("" when it could not).
    pub command: String,
    /// The source given, when there was one.
    pub source: Option<GivenSource>,
    /// The backup bundle directory, when the run made one before it failed
    /// (a write rolled back, or one whose rollback failed: restore from it).
    pub backup: Option<String>,
    /// The error.
    pub error: ErrorInfo,
}

impl ErrorReport {
    /// The report of `command` on `source` failing with `error`.
    pub fn new(command: &str, source: Option<String>, error: ErrorInfo) -> Self {
        ErrorReport {
            schema: SCHEMA,
            tool: TOOL,
            command: command.to_string(),
            source: source.map(|path| GivenSource { path }),
            backup: None,
            error,
        }
    }
}

/// What `--summary` prints: one line of JSON with the head of the
/// document and the few fields a runbook branches on.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct Summary {
    /// How the run ended.
    pub outcome: DocOutcome,
    /// The process exit code.
    pub exit_code: u8,
    /// The codes of every issue.
    pub codes: Vec<Code>,
    /// Schema tag.
    pub schema: &'static str,
    /// The command.
    pub command: String,
    /// The source path given, when there is one.
    pub source: Option<String>,
    /// The backup bundle directory, for runs that wrote one or found one.
    pub backup: Option<String>,
    /// The verdict of `inspect` (NLA, RDP, blockers), when the command has one.
    #[schemars(with = "Option<serde_json::Value>")]
    pub verdict: Option<serde_json::Value>,
    /// The first error or refusal message, when there is one.
    pub message: Option<String>,
}

impl Summary {
    /// The summary of `doc`, read from its JSON form so that every
    /// command's document is summarised the same way.
    pub fn of<T: Serialize>(doc: &Document<T>) -> Summary {
        let v = serde_json::to_value(doc).unwrap_or_default();
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let source = v
            .get("source")
            .and_then(|s| s.get("path"))
            .and_then(|p| p.as_str())
            .map(str::to_string);
        let message = doc
            .issues
            .iter()
            .find(|i| i.severity != Severity::Warning)
            .map(|i| i.message.clone());
        Summary {
            outcome: doc.outcome,
            exit_code: doc.exit_code,
            codes: doc.codes.clone(),
            schema: SCHEMA,
            command: text("command").unwrap_or_default(),
            source,
            backup: text("backup"),
            verdict: v.get("verdict").filter(|x| !x.is_null()).cloned(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_comes_first_and_codes_are_deduplicated() {
        let issues = vec![
            Issue::warning(&crate::error::Warning::new(Code::LogsReplayed, "a")),
            Issue {
                severity: Severity::Refusal,
                code: Code::Mounted,
                message: "m".into(),
            },
            Issue::warning(&crate::error::Warning::new(Code::LogsReplayed, "b")),
        ];
        let err = ErrorInfo {
            kind: "refused",
            exit_code: 3,
            code: Code::Mounted,
            message: "m".into(),
        };
        let doc = Document::new(
            DocOutcome::Refused,
            3,
            issues,
            ErrorReport::new("nla disable", Some("/x".into()), err),
        );
        let text = serde_json::to_string(&doc).unwrap();
        assert!(
            text.starts_with(
                r#"{"outcome":"refused","exit_code":3,"codes":["logs-replayed","mounted"]"#
            ),
            "{text}"
        );
        let s = Summary::of(&doc);
        assert_eq!(s.command, "nla disable");
        assert_eq!(s.source.as_deref(), Some("/x"));
        assert_eq!(s.message.as_deref(), Some("m"));
        assert!(!serde_json::to_string(&s).unwrap().contains('\n'));
    }
}
