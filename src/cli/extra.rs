// SPDX-License-Identifier: GPL-2.0-or-later
//! The commands around a repair rather than in it: `completions SHELL`
//! and the hidden `man` (both generated from the clap definition, so they
//! never drift from it).

use crate::cli::args::full_command;
use crate::error::Error;

/// `completions SHELL`: the completion script.
pub fn completions(shell: clap_complete::Shell) -> String {
    let mut cmd = full_command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "ntrescue", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// `man`: the man page (roff), subcommands included.
pub fn man() -> Result<String, Error> {
    let cmd = full_command();
    let mut out = Vec::new();
    let io = |e| Error::io("rendering the man page", e);
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(&mut out).map_err(io)?;
    man.render_name_section(&mut out).map_err(io)?;
    man.render_synopsis_section(&mut out).map_err(io)?;
    man.render_description_section(&mut out).map_err(io)?;
    man.render_options_section(&mut out).map_err(io)?;
    man.render_subcommands_section(&mut out).map_err(io)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        out.extend_from_slice(format!(".SH \"COMMAND: {}\"\n", sub.get_name()).as_bytes());
        let about = sub.get_long_about().or(sub.get_about());
        if let Some(a) = about {
            out.extend_from_slice(format!("{}\n", roff_escape(&a.to_string())).as_bytes());
        }
        for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
            let name = match (arg.get_long(), arg.get_short()) {
                (Some(l), _) => format!("\\-\\-{l}"),
                (None, Some(s)) => format!("\\-{s}"),
                (None, None) => arg.get_id().as_str().to_uppercase(),
            };
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            out.extend_from_slice(
                format!(".TP\n\\fB{name}\\fR\n{}\n", roff_escape(&help)).as_bytes(),
            );
        }
    }
    man.render_extra_section(&mut out).map_err(io)?;
    man.render_version_section(&mut out).map_err(io)?;
    man.render_authors_section(&mut out).map_err(io)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Text safe inside a roff paragraph: backslashes doubled, and a line
/// that starts with `.` or `'` (a request) protected by `\&`.
fn roff_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .lines()
        .map(|l| {
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn roff_requests_in_text_are_escaped() {
        assert_eq!(super::roff_escape(".x\na\\b"), "\\&.x\na\\\\b");
    }
}
