//! A small job for the tests and the overhead example.
//!
//! Reads its framed standard input, adds up the frames read as
//! little-endian `i64`s (an empty frame counts as 0), and writes the sum as 8
//! little-endian bytes. Options:
//!
//! * `--add-env NAME`: also add the integer in environment variable `NAME`;
//! * `--sleep-ms N`: sleep N milliseconds first;
//! * `--fail MESSAGE`: write MESSAGE to stderr and exit with code 3.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use taskgraph_cluster::frame;

fn number(bytes: &[u8]) -> Result<i64, String> {
    match bytes.len() {
        0 => Ok(0),
        8 => Ok(i64::from_le_bytes(bytes.try_into().expect("8 bytes"))),
        n => Err(format!("a frame of {n} bytes is not an i64")),
    }
}

fn run() -> Result<i64, String> {
    let frames = frame::read_stdin().map_err(|e| e.to_string())?;
    let mut sum = number(&frames.input)?;
    for dep in &frames.deps {
        sum += number(dep)?;
    }
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--add-env" => {
                let name = value()?;
                let text = std::env::var(&name).map_err(|e| format!("${name}: {e}"))?;
                sum += text.parse::<i64>().map_err(|e| format!("${name}: {e}"))?;
            }
            "--sleep-ms" => {
                let ms = value()?.parse().map_err(|e| format!("--sleep-ms: {e}"))?;
                std::thread::sleep(Duration::from_millis(ms));
            }
            "--fail" => return Err(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(sum)
}

fn main() -> ExitCode {
    match run() {
        Ok(sum) => {
            let mut out = std::io::stdout().lock();
            if out
                .write_all(&sum.to_le_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                return ExitCode::from(2);
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(3)
        }
    }
}
