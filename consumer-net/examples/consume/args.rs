//! Command-line flags, named after Apache Kafka's `kafka-console-consumer`.

use std::time::Duration;

/// The usage text printed by `--help`.
pub const USAGE: &str = "\
Reads records from a Kafka topic and prints them to stdout.

Usage: consume --bootstrap-server HOST:PORT --topic TOPIC [options]

Options:
  --bootstrap-server HOST:PORT[,...]  brokers to start from (required)
  --topic TOPIC                       the topic to read (required)
  --partition N                       read only partition N (default: all partitions)
  --from-beginning                    start at the earliest offset (default: the end);
                                      with --group: where a group without commits starts
  --offset N|earliest|latest          where to start in each partition read
  --max-messages N                    exit after N records (with --group: commits
                                      exactly the records printed)
  --timeout-ms MS                     exit when no record arrives for MS milliseconds
  --close-timeout-ms MS               the most the exit (final commit, summary, leaving
                                      the group) may take after Ctrl-C or the end
                                      (default: 30000)
  --consumer-property KEY=VALUE       a consumer property by its Java name (repeatable;
                                      wins over --consumer.config)
  --consumer.config FILE              consumer properties from a Java .properties file
                                      (e.g. security.protocol, sasl.*, ssl.*)
  --group GROUP                       read as a member of consumer group GROUP
                                      (partitions assigned by the group; each starts at
                                      the group's committed offset; commits on exit)
  --format text|json|none             text: the value, one per line (default);
                                      json: one object per record per line;
                                      none: print nothing per record
  --progress                          show progress on stderr even when it is not a terminal
  -h, --help                          print this help

A summary (records, bytes, rate, lag left, fetches and their mean latency; rebalances
and commit failures if any) goes to stderr at the end.
";

/// Where to start reading each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The log start offset.
    Earliest,
    /// The log end offset: only records produced from now on.
    Latest,
    /// A given offset.
    Offset(i64),
}

/// How each record is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The value as UTF-8 text, one per line.
    Text,
    /// One JSON object per line.
    Json,
    /// Nothing (for measuring).
    None,
}

/// The parsed flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub bootstrap: String,
    pub topic: String,
    pub partition: Option<i32>,
    pub start: StartAt,
    pub max_messages: Option<u64>,
    pub timeout: Option<Duration>,
    /// The bound on everything done after consuming stops.
    pub close_timeout: Duration,
    pub properties: Vec<(String, String)>,
    /// The consumer group, from `--group` or a `group.id` consumer property.
    pub group: Option<String>,
    pub format: Format,
    pub progress: bool,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Consume.
    Run(Args),
    /// Print the usage.
    Help,
}

/// Parses the flags (without the program name); accepts `--flag value` and `--flag=value`.
pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut argv = argv.into_iter();
    let mut bootstrap = None;
    let mut topic = None;
    let mut partition = None;
    let mut from_beginning = false;
    let mut offset = None;
    let mut max_messages = None;
    let mut timeout = None;
    let mut close_timeout = consumer_net::DEFAULT_CLOSE_TIMEOUT;
    let mut properties = Vec::new();
    let mut file_properties = Vec::new();
    let mut group = None;
    let mut format = Format::Text;
    let mut progress = false;

    while let Some(arg) = argv.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| argv.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--bootstrap-server" => bootstrap = Some(value(&flag)?),
            "--topic" => topic = Some(value(&flag)?),
            "--partition" => partition = Some(number::<i32>(&flag, &value(&flag)?)?),
            "--from-beginning" => from_beginning = true,
            "--offset" => offset = Some(start_at(&value(&flag)?)?),
            "--close-timeout-ms" => {
                close_timeout = Duration::from_millis(number(&flag, &value(&flag)?)?);
            }
            "--max-messages" => max_messages = Some(number::<u64>(&flag, &value(&flag)?)?),
            "--timeout-ms" => {
                timeout = Some(Duration::from_millis(number(&flag, &value(&flag)?)?));
            }
            "--consumer-property" => {
                let kv = value(&flag)?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--consumer-property expects KEY=VALUE, got `{kv}`"))?;
                properties.push((k.trim().to_owned(), v.trim().to_owned()));
            }
            "--consumer.config" => {
                let path = value(&flag)?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read --consumer.config `{path}`: {e}"))?;
                let pairs = consumer_net::parse_properties(&text)
                    .map_err(|e| format!("--consumer.config `{path}`: {e}"))?;
                file_properties.extend(pairs);
            }
            "--group" => group = Some(value(&flag)?),
            "--format" => {
                format = match value(&flag)?.as_str() {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    "none" => Format::None,
                    other => return Err(format!("unknown --format `{other}` (text, json, none)")),
                }
            }
            "--progress" => progress = true,
            _ => return Err(format!("unknown argument `{arg}`")),
        }
    }

    // As in kafka-console-consumer: the file first, the flags override it.
    file_properties.append(&mut properties);
    let properties = file_properties;
    let bootstrap = bootstrap.ok_or("--bootstrap-server is required")?;
    let topic = topic.ok_or("--topic is required")?;
    if partition.is_some_and(|p| p < 0) {
        return Err("--partition must not be negative".into());
    }
    let group = group_of(group, &properties)?;
    if group.is_some() && (partition.is_some() || offset.is_some()) {
        // As in kafka-console-consumer: the group decides the partitions and where
        // each starts (its committed offset).
        return Err(
            "--partition and --offset cannot be used with a consumer group: \
                    the group assigns the partitions and starts each at its committed offset \
                    (--from-beginning: where a group without commits starts)"
                .into(),
        );
    }
    let start = match (from_beginning, offset) {
        (true, Some(_)) => return Err("--from-beginning and --offset exclude each other".into()),
        (true, None) => StartAt::Earliest,
        (false, Some(o)) => o,
        (false, None) => StartAt::Latest,
    };
    Ok(Command::Run(Args {
        bootstrap,
        topic,
        partition,
        start,
        max_messages,
        timeout,
        close_timeout,
        properties,
        group,
        format,
        progress,
    }))
}

/// The group named by `--group` or by a `group.id` property; both must agree.
fn group_of(
    flag: Option<String>,
    properties: &[(String, String)],
) -> Result<Option<String>, String> {
    let property = properties
        .iter()
        .rev()
        .find(|(k, _)| k == "group.id")
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty());
    match (flag, property) {
        (Some(f), Some(p)) if f != p => Err(format!(
            "--group `{f}` and --consumer-property group.id=`{p}` disagree"
        )),
        (Some(g), _) | (None, Some(g)) if g.is_empty() => Err("--group must not be empty".into()),
        (Some(g), _) | (None, Some(g)) => Ok(Some(g)),
        (None, None) => Ok(None),
    }
}

fn start_at(v: &str) -> Result<StartAt, String> {
    match v {
        "earliest" => Ok(StartAt::Earliest),
        "latest" => Ok(StartAt::Latest),
        n => match n.parse::<i64>() {
            Ok(o) if o >= 0 => Ok(StartAt::Offset(o)),
            _ => Err(format!(
                "--offset expects a non-negative number, `earliest` or `latest`, got `{v}`"
            )),
        },
    }
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag} expects a non-negative number, got `{v}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Args, String> {
        match parse(args.iter().map(|s| s.to_string()))? {
            Command::Run(a) => Ok(a),
            Command::Help => Err("help".into()),
        }
    }

    #[test]
    fn minimal_flags_take_defaults() {
        let a = run(&["--bootstrap-server", "b:9092", "--topic", "t"]).unwrap();
        assert_eq!(a.bootstrap, "b:9092");
        assert_eq!(a.topic, "t");
        assert_eq!(a.partition, None);
        assert_eq!(a.start, StartAt::Latest);
        assert_eq!(a.format, Format::Text);
        assert_eq!(a.max_messages, None);
        assert!(!a.progress);
    }

    #[test]
    fn every_flag_in_both_forms() {
        let a = run(&[
            "--bootstrap-server=b:1",
            "--topic",
            "t",
            "--partition=3",
            "--offset",
            "42",
            "--max-messages",
            "10",
            "--timeout-ms=1500",
            "--consumer-property",
            "fetch.min.bytes=1024",
            "--consumer-property=client.id=a=b",
            "--format",
            "json",
            "--progress",
        ])
        .unwrap();
        assert_eq!(a.partition, Some(3));
        assert_eq!(a.start, StartAt::Offset(42));
        assert_eq!(a.max_messages, Some(10));
        assert_eq!(a.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(
            a.properties,
            vec![
                ("fetch.min.bytes".to_owned(), "1024".to_owned()),
                ("client.id".to_owned(), "a=b".to_owned())
            ]
        );
        assert_eq!(a.format, Format::Json);
        assert!(a.progress);
    }

    #[test]
    fn start_positions() {
        let base = ["--bootstrap-server", "b:1", "--topic", "t"];
        let with = |extra: &[&str]| run(&[&base[..], extra].concat());
        assert_eq!(
            with(&["--from-beginning"]).unwrap().start,
            StartAt::Earliest
        );
        assert_eq!(
            with(&["--offset", "earliest"]).unwrap().start,
            StartAt::Earliest
        );
        assert_eq!(
            with(&["--offset", "latest"]).unwrap().start,
            StartAt::Latest
        );
        assert!(with(&["--offset", "-1"]).is_err());
        assert!(with(&["--from-beginning", "--offset", "5"]).is_err());
    }

    #[test]
    fn mistakes_are_reported() {
        assert!(run(&["--topic", "t"])
            .unwrap_err()
            .contains("--bootstrap-server"));
        assert!(run(&["--bootstrap-server", "b:1"])
            .unwrap_err()
            .contains("--topic"));
        let base = ["--bootstrap-server", "b:1", "--topic", "t"];
        let err = |extra: &[&str]| run(&[&base[..], extra].concat()).unwrap_err();
        assert!(err(&["--bogus"]).contains("--bogus"));
        assert!(err(&["--max-messages"]).contains("needs a value"));
        assert!(err(&["--max-messages", "x"]).contains("number"));
        assert!(err(&["--partition", "-2"]).contains("negative"));
        assert!(err(&["--format", "xml"]).contains("xml"));
        assert!(err(&["--consumer-property", "novalue"]).contains("KEY=VALUE"));
    }

    #[test]
    fn group_from_flag_or_property() {
        let base = ["--bootstrap-server", "b:1", "--topic", "t"];
        let with = |extra: &[&str]| run(&[&base[..], extra].concat());
        assert_eq!(with(&[]).unwrap().group, None);
        assert_eq!(
            with(&["--group", "g", "--from-beginning"]).unwrap().group,
            Some("g".to_owned())
        );
        assert_eq!(
            with(&["--consumer-property", "group.id=h"]).unwrap().group,
            Some("h".to_owned())
        );
        assert_eq!(
            with(&["--group=g", "--consumer-property", "group.id=g"])
                .unwrap()
                .group,
            Some("g".to_owned())
        );
        assert!(with(&["--group", "g", "--consumer-property", "group.id=h"])
            .unwrap_err()
            .contains("disagree"));
        assert!(with(&["--group", ""]).unwrap_err().contains("empty"));
    }

    #[test]
    fn group_refuses_partition_and_offset() {
        let base = ["--bootstrap-server", "b:1", "--topic", "t", "--group", "g"];
        let err = |extra: &[&str]| run(&[&base[..], extra].concat()).unwrap_err();
        assert!(err(&["--partition", "0"]).contains("consumer group"));
        assert!(err(&["--offset", "earliest"]).contains("consumer group"));
        let via_property = [
            "--bootstrap-server",
            "b:1",
            "--topic",
            "t",
            "--consumer-property=group.id=g",
            "--partition=1",
        ];
        assert!(run(&via_property).unwrap_err().contains("consumer group"));
    }

    #[test]
    fn help_wins() {
        let c = parse(["--topic", "t", "--help"].map(String::from)).unwrap();
        assert_eq!(c, Command::Help);
    }

    #[test]
    fn consumer_config_file_then_flags() {
        let path =
            std::env::temp_dir().join(format!("consume-args-{}.properties", std::process::id()));
        std::fs::write(
            &path,
            "security.protocol=SSL\nssl.ca.location=/a.pem\nclient.id=file\n",
        )
        .unwrap();
        let file = format!("--consumer.config={}", path.display());
        let a = run(&[
            "--bootstrap-server",
            "b:1",
            "--topic",
            "t",
            "--consumer-property",
            "client.id=flag",
            &file,
        ])
        .unwrap();
        std::fs::remove_file(&path).unwrap();
        let props: Vec<(&str, &str)> = a
            .properties
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            props,
            vec![
                ("security.protocol", "SSL"),
                ("ssl.ca.location", "/a.pem"),
                ("client.id", "file"),
                ("client.id", "flag"),
            ]
        );
        let err = run(&[
            "--bootstrap-server",
            "b:1",
            "--topic",
            "t",
            "--consumer.config",
            "/nonexistent/x",
        ])
        .unwrap_err();
        assert!(err.contains("/nonexistent/x"), "{err}");
    }
}
