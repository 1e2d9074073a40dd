//! `bak2rds explain MESSAGE|-`: the cause and the fix of an RDS migration task's Description
//! that a user met elsewhere (the console, another tool, an e-mail). The same explanations as
//! `watch`, `migrate` and `tasks` give (`rds::diagnose`).

use std::io::Read as _;

use anyhow::Context as _;
use bak2rds_cloud::rds::diagnose::diagnose;
use serde::Serialize;

use crate::cli::Status;
use crate::cli::args::ExplainArgs;
use crate::cli::printer::Printer;

/// The `--json` answer: the diagnosis, or `recognised: false` with the message as given.
#[derive(Debug, Serialize)]
struct Answer<'a> {
    recognised: bool,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<bak2rds_cloud::rds::diagnose::Cause>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanation: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    restored: Option<bool>,
}

/// Runs `bak2rds explain`: exit 0 when the message is recognised, 1 when not.
pub fn run(args: ExplainArgs, printer: &Printer) -> anyhow::Result<Status> {
    let message = if args.message == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("read the message from standard input")?;
        text
    } else {
        args.message
    };
    let message = message.trim();
    let diagnosis = diagnose(message);
    if printer.json() {
        printer.json_document(&Answer {
            recognised: diagnosis.is_some(),
            message,
            cause: diagnosis.as_ref().map(|d| d.cause),
            explanation: diagnosis.as_ref().map(|d| d.explanation),
            fix: diagnosis.as_ref().map(|d| d.fix),
            restored: diagnosis.as_ref().map(|d| d.restored),
        })?;
    } else {
        match &diagnosis {
            Some(diagnosis) => {
                printer.line(format!("RDS says: {message}"))?;
                printer.line(format!("cause:    {}", diagnosis.explanation))?;
                printer.line(format!("fix:      {}", diagnosis.fix))?;
                if diagnosis.restored {
                    printer.line("the database was restored all the same")?;
                }
            }
            None => {
                printer.line(format!("RDS says: {message}"))?;
                printer.line(
                    "This is not a message bak2rds knows, so it is not explained here. Look it up \
                     in Alibaba Cloud's migration guide for ApsaraDB RDS for SQL Server, or ask \
                     Alibaba Cloud support with the task ID.",
                )?;
            }
        }
    }
    Ok(match diagnosis {
        Some(_) => Status::Done,
        None => Status::NoAnswer,
    })
}
