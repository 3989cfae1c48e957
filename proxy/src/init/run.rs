//! Running the iptables tools, behind a trait so that the error handling and
//! the order of commands are tested without root.

use super::error::InitError;
use std::{
    io::{self, Write as _},
    process::{Command, Stdio},
};

/// What a finished command left behind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// The exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs a program to completion, feeding it `stdin`.
pub trait Runner {
    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> io::Result<Output>;
}

/// The real system.
#[derive(Debug, Default)]
pub struct System;

impl Runner for System {
    fn run(&self, program: &str, args: &[&str], stdin: Option<&str>) -> io::Result<Output> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(input) = stdin {
            // Dropping the handle closes the pipe, so restore sees the end.
            let mut pipe = child.stdin.take().expect("stdin was piped");
            pipe.write_all(input.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        Ok(Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Runs a command and turns every way it can fail into an [`InitError`]
/// that says what to do about it. `input` is the restore input, so a failure
/// can show the offending line.
pub fn checked(
    runner: &dyn Runner,
    program: &str,
    args: &[&str],
    input: Option<&str>,
) -> Result<Output, InitError> {
    let command = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let out = runner.run(program, args, input).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            InitError::MissingBinary {
                binary: program.to_string(),
                package: "iptables",
            }
        } else if e.kind() == io::ErrorKind::PermissionDenied {
            // The kernel refuses to run a binary carrying file capabilities
            // the container may not have.
            InitError::Permission {
                command: command.clone(),
                stderr: format!("the binary could not be started: {e}"),
            }
        } else {
            InitError::Spawn {
                command: command.clone(),
                source: e,
            }
        }
    })?;
    if out.success() {
        return Ok(out);
    }
    let stderr = out.stderr.trim().to_string();
    if denied(&stderr) {
        return Err(InitError::Permission { command, stderr });
    }
    let status = match out.code {
        Some(c) => format!("exit code {c}"),
        None => "killed by a signal".into(),
    };
    Err(match input {
        Some(input) => InitError::Restore {
            command,
            status,
            failed_line: failed_line(&stderr, input),
            stderr,
        },
        None => InitError::Command {
            command,
            status,
            stderr,
        },
    })
}

/// Both variants say "Permission denied (you must be root)" without
/// NET_ADMIN; netlink refusals say "Operation not permitted".
fn denied(stderr: &str) -> bool {
    [
        "Permission denied",
        "you must be root",
        "Operation not permitted",
    ]
    .iter()
    .any(|s| stderr.contains(s))
}

/// The line restore complained about, with its text. legacy and nft both end
/// with "Error occurred at line: N"; some errors only say "line N failed" or
/// "line N: …".
fn failed_line(stderr: &str, input: &str) -> Option<(usize, String)> {
    let number_after = |marker: &str| {
        stderr.rfind(marker).and_then(|i| {
            let rest = &stderr[i + marker.len()..];
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<usize>().ok()
        })
    };
    let n = number_after("Error occurred at line:").or_else(|| number_after("line "))?;
    let text = input.lines().nth(n.checked_sub(1)?)?;
    Some((n, text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(io::Result<Output>);

    impl Runner for Fixed {
        fn run(&self, _: &str, _: &[&str], _: Option<&str>) -> io::Result<Output> {
            match &self.0 {
                Ok(o) => Ok(o.clone()),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            }
        }
    }

    fn failing(stderr: &str) -> Fixed {
        Fixed(Ok(Output {
            code: Some(2),
            stdout: String::new(),
            stderr: stderr.into(),
        }))
    }

    #[test]
    fn a_missing_binary_names_it_and_the_package() {
        let r = Fixed(Err(io::ErrorKind::NotFound.into()));
        let err = checked(&r, "iptables-nft-restore", &[], None).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`iptables-nft-restore`"), "{msg}");
        assert!(msg.contains("package `iptables`"), "{msg}");
    }

    #[test]
    fn a_permission_error_names_the_capabilities() {
        for stderr in [
            "iptables-restore v1.8.9 (legacy): iptables-restore: unable to initialize table 'nat'\n\nError occurred at line: 1\nPermission denied (you must be root)",
            "iptables-nft-restore v1.8.9 (nf_tables): Could not fetch rule set generation id: Permission denied (you must be root)",
        ] {
            let err = checked(
                &failing(stderr),
                "iptables-restore",
                &["--noflush"],
                Some("*nat\n"),
            )
            .unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, InitError::Permission { .. }), "{msg}");
            assert!(
                msg.contains("NET_ADMIN") && msg.contains("NET_RAW"),
                "{msg}"
            );
            assert!(msg.contains("file capabilities"), "{msg}");
            assert!(msg.contains(stderr), "{msg}");
        }
    }

    #[test]
    fn a_restore_failure_shows_stderr_and_the_line() {
        let input = "*nat\n:WEFT_A - [0:0]\n-A WEFT_A -j BOGUS\nCOMMIT\n";
        let stderr = "iptables-restore v1.8.9 (legacy): Couldn't load target `BOGUS':No such file or directory\n\nError occurred at line: 3\nTry `iptables-restore -h' for more information.";
        let err = checked(
            &failing(stderr),
            "iptables-restore",
            &["--noflush"],
            Some(input),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("Couldn't load target `BOGUS'"), "{msg}");
        assert!(msg.contains("line 3: -A WEFT_A -j BOGUS"), "{msg}");
        assert!(msg.contains("exit code 2"), "{msg}");

        let nft = "ip6tables-nft-restore v1.8.9 (nf_tables): \nline 2: RULE_APPEND failed (Invalid argument): rule in chain WEFT_A";
        let err = checked(
            &failing(nft),
            "ip6tables-restore",
            &["--noflush"],
            Some(input),
        )
        .unwrap_err();
        assert!(err.to_string().contains("line 2: :WEFT_A - [0:0]"), "{err}");
    }

    #[test]
    fn a_failed_save_shows_stderr() {
        let err = checked(&failing("boom"), "iptables-save", &["-t", "nat"], None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`iptables-save -t nat` failed (exit code 2): boom"
        );
    }

    #[test]
    fn the_system_runner_feeds_stdin_and_collects_output() {
        let out = System.run("cat", &[], Some("hello")).unwrap();
        assert_eq!(out.stdout, "hello");
        assert!(out.success());
        let out = System
            .run("sh", &["-c", "echo no >&2; exit 3"], None)
            .unwrap();
        assert_eq!((out.code, out.stderr.as_str()), (Some(3), "no\n"));
    }
}
