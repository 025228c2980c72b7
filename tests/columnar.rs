//! Parquet and Arrow IPC event files (`events::columnar`): each example's
//! sample written as Parquet, an Arrow file and an Arrow stream runs to the
//! same ledger, members and rejects as its CSV; typed columns (decimals,
//! timestamps with and without a zone, floats, dictionaries, dates) read as
//! the text a CSV would carry; a file that is not one is one unreadable
//! record. And `run --output-format parquet`: the CSV outputs' rows, typed.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use arrow_array::builder::StringDictionaryBuilder;
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, Date32Array, Decimal128Array, Float64Array, RecordBatch, StringArray,
    TimestampMillisecondArray, TimestampSecondArray,
};
use arrow_schema::{Field, Schema};
use std::path::Path;
use std::sync::Arc;
use support::loyalty;

/// A batch of the `columns`, each named and nullable.
fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    let arrays = columns.into_iter().map(|(_, array)| array).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

/// Writes a batch to a file in one of the formats.
type Writer = fn(&RecordBatch, &Path);

fn write_parquet(batch: &RecordBatch, path: &Path) {
    use parquet::basic::Compression;
    use parquet::file::properties::WriterProperties;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        // Several row groups, so rows cross batches.
        .set_max_row_group_row_count(Some(16))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(properties)).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

fn write_arrow_file(batch: &RecordBatch, path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    let mut writer = arrow_ipc::writer::FileWriter::try_new(file, &batch.schema()).unwrap();
    writer.write(batch).unwrap();
    writer.finish().unwrap();
}

fn write_arrow_stream(batch: &RecordBatch, path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(file, &batch.schema()).unwrap();
    writer.write(batch).unwrap();
    writer.finish().unwrap();
}

/// A CSV file as a batch of text columns, an empty cell a null.
fn csv_batch(path: &Path) -> RecordBatch {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let columns = header
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let values: StringArray = rows
                .iter()
                .map(|r| Some(&r[i]).filter(|v| !v.is_empty()))
                .collect();
            (name.as_str(), Arc::new(values) as ArrayRef)
        })
        .collect();
    batch(columns)
}

/// `loyalty run PROGRAM EVENTS --until DAY` into `out`: the ledger, the
/// members, and the rejects as (id, reason) pairs (a CSV's lines count
/// its header, a columnar file's rows do not).
fn run(program: &Path, events: &Path, until: &str, out: &Path) -> (String, String, Vec<String>) {
    let output = loyalty(&[
        "run",
        program.to_str().unwrap(),
        events.to_str().unwrap(),
        "--until",
        until,
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(output.status.success(), "{output:?}");
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    let mut rejects = csv::Reader::from_path(out.join("rejects.csv")).unwrap();
    let rejects = rejects
        .records()
        .map(|r| {
            let r = r.unwrap();
            format!("{} {}: {}", &r[2], &r[3], &r[4])
        })
        .collect();
    (read("ledger.csv"), read("members.csv"), rejects)
}

#[test]
fn every_sample_as_parquet_or_arrow_runs_to_its_csvs_ledger_members_and_rejects() {
    let dir = tempfile::tempdir().unwrap();
    for (name, day) in support::until_days() {
        let program = support::programs().join(format!("{name}.loyalty"));
        let csv = support::programs().join(format!("{name}.events.csv"));
        let expected = run(&program, &csv, day, &dir.path().join(format!("{name}-csv")));
        assert!(!expected.2.is_empty(), "{name}: the sample has rejects");
        let batch = csv_batch(&csv);
        let files: [(&str, Writer); 3] = [
            ("parquet", write_parquet),
            ("arrow", write_arrow_file),
            ("arrows", write_arrow_stream),
        ];
        for (extension, write) in files {
            let events = dir.path().join(format!("{name}.{extension}"));
            write(&batch, &events);
            let out = dir.path().join(format!("{name}-{extension}"));
            assert_eq!(
                run(&program, &events, day, &out),
                expected,
                "{name}.{extension}"
            );
        }
    }
}

const PROGRAM: &str = "program \"Columns\" {\n  currency USD\n  timezone \"America/New_York\"\n}\n\
                       member {\n  birthday: optional date\n}\n\
                       event purchase {\n  channel: optional text\n}\n\
                       points stars\n\
                       rule base {\n  on purchase where channel = \"app\"\n  \
                       earn 10 stars per 1 USD of amount\n}\n";

/// The same six records as a typed batch and as CSV.
#[test]
fn typed_columns_read_as_the_text_a_csv_would_carry() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("p.loyalty");
    std::fs::write(&program, PROGRAM).unwrap();
    let mut channel = StringDictionaryBuilder::<Int32Type>::new();
    for value in [
        None,
        Some("app"),
        Some("store"),
        Some("app"),
        Some("app"),
        Some("app"),
    ] {
        match value {
            Some(v) => channel.append_value(v),
            None => channel.append_null(),
        }
    }
    // 2025-03-01T10:00:00 in New York, as a wall clock time (no zone).
    let local = 1_740_823_200_000;
    let hour = 3_600_000;
    let typed = batch(vec![
        (
            "id",
            Arc::new(StringArray::from(vec!["e1", "e2", "e3", "e4", "e5", "e6"])),
        ),
        (
            "time",
            Arc::new(TimestampMillisecondArray::from(
                (0..6).map(|i| local + i * hour).collect::<Vec<i64>>(),
            )),
        ),
        ("member", Arc::new(StringArray::from(vec!["ann"; 6]))),
        (
            "type",
            Arc::new(StringArray::from(vec![
                "enroll", "purchase", "purchase", "purchase", "purchase", "purchase",
            ])),
        ),
        (
            "amount",
            Arc::new(
                Decimal128Array::from(vec![None, Some(450), Some(999), Some(1), Some(-100), None])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
        ),
        ("channel", Arc::new(channel.finish())),
        (
            "birthday",
            // 1990-03-10: 7,373 days after 1970-01-01.
            Arc::new(Date32Array::from(vec![
                Some(7373),
                None,
                None,
                None,
                None,
                None,
            ])),
        ),
    ]);
    let csv = dir.path().join("e.csv");
    std::fs::write(
        &csv,
        "id,time,member,type,amount,channel,birthday\n\
         e1,2025-03-01T10:00:00,ann,enroll,,,1990-03-10\n\
         e2,2025-03-01T11:00:00,ann,purchase,4.50,app,\n\
         e3,2025-03-01T12:00:00,ann,purchase,9.99,store,\n\
         e4,2025-03-01T13:00:00,ann,purchase,0.01,app,\n\
         e5,2025-03-01T14:00:00,ann,purchase,-1.00,app,\n\
         e6,2025-03-01T15:00:00,ann,purchase,,app,\n",
    )
    .unwrap();
    let parquet = dir.path().join("e.parquet");
    write_parquet(&typed, &parquet);
    let expected = run(&program, &csv, "2025-03-31", &dir.path().join("csv"));
    assert_eq!(
        expected.2.len(),
        2,
        "a negative and a missing amount: {:?}",
        expected.2
    );
    assert_eq!(
        run(
            &program,
            &parquet,
            "2025-03-31",
            &dir.path().join("parquet")
        ),
        expected
    );

    // Instants (a zone on the column) and floats: 15:00 UTC is 10:00 in
    // New York; 0.3 as a float reads as 0.3, not 0.29999999999999998…
    // (which would earn 2 stars, not 3).
    let instants = batch(vec![
        ("id", Arc::new(StringArray::from(vec!["e1", "e2", "e3"]))),
        (
            "time",
            Arc::new(
                TimestampSecondArray::from(vec![1_740_841_200, 1_740_844_800, 1_740_848_400])
                    .with_timezone("UTC"),
            ),
        ),
        ("member", Arc::new(StringArray::from(vec!["bo"; 3]))),
        (
            "type",
            Arc::new(StringArray::from(vec!["enroll", "purchase", "purchase"])),
        ),
        (
            "amount",
            Arc::new(Float64Array::from(vec![None, Some(0.3), Some(f64::NAN)])),
        ),
        (
            "channel",
            Arc::new(StringArray::from(vec![None, Some("app"), Some("app")])),
        ),
    ]);
    std::fs::write(
        &csv,
        "id,time,member,type,amount,channel\n\
         e1,2025-03-01T10:00:00,bo,enroll,,\n\
         e2,2025-03-01T11:00:00,bo,purchase,0.3,app\n\
         e3,2025-03-01T12:00:00,bo,purchase,NaN,app\n",
    )
    .unwrap();
    let arrow = dir.path().join("e.arrow");
    write_arrow_file(&instants, &arrow);
    let expected = run(&program, &csv, "2025-03-31", &dir.path().join("csv2"));
    assert!(expected.0.contains(",3,3,base,e2,"), "{}", expected.0);
    assert_eq!(
        run(&program, &arrow, "2025-03-31", &dir.path().join("arrow")),
        expected
    );
}

#[test]
fn a_file_that_is_not_parquet_is_one_unreadable_record_and_the_others_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("p.loyalty");
    std::fs::write(&program, PROGRAM).unwrap();
    let broken = dir.path().join("broken.parquet");
    std::fs::write(&broken, "id,time,member,type\n").unwrap();
    let csv = dir.path().join("e.csv");
    std::fs::write(&csv, "id,time,member,type\ne1,2025-03-01,ann,enroll\n").unwrap();
    let out = dir.path().join("out");
    let output = loyalty(&[
        "run",
        program.to_str().unwrap(),
        broken.to_str().unwrap(),
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(output.status.success(), "{output:?}");
    let mut rejects = csv::Reader::from_path(out.join("rejects.csv")).unwrap();
    let rejects: Vec<csv::StringRecord> = rejects.records().map(Result::unwrap).collect();
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert!(rejects[0][0].ends_with("broken.parquet"), "{rejects:?}");
    assert_eq!(&rejects[0][1], "1");
    assert!(
        rejects[0][4].starts_with("not a Parquet file this reader can read"),
        "{rejects:?}"
    );
    let members = std::fs::read_to_string(out.join("members.csv")).unwrap();
    assert!(members.lines().any(|l| l.starts_with("ann,")), "{members}");
}

/// Cut short or with a byte changed anywhere, a Parquet or Arrow file is
/// read to rejects and events, never a panic (nothing input can reach
/// may panic).
#[test]
fn broken_columnar_files_are_rejects_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let program = loyalty::compile::compile(PROGRAM).unwrap().0;
    let csv = support::programs().join("bean_stars.events.csv");
    let batch = csv_batch(&csv);
    let files: [(loyalty::events::Format, Writer); 3] = [
        (loyalty::events::Format::Parquet, write_parquet),
        (loyalty::events::Format::Arrow, write_arrow_file),
        (loyalty::events::Format::Arrow, write_arrow_stream),
    ];
    let mut damaged = 0;
    for (i, (format, write)) in files.into_iter().enumerate() {
        let path = dir.path().join(format!("f{i}"));
        write(&batch, &path);
        let bytes = std::fs::read(&path).unwrap();
        let mut read = |bytes: &[u8]| {
            let records: Vec<_> = loyalty::events::read(&program, format, bytes, "f").collect();
            damaged += records
                .iter()
                .filter(|r| r.as_ref().is_err_and(|r| r.reason.contains("damaged")))
                .count();
            records.len()
        };
        assert_eq!(read(&bytes), 58, "{format:?} whole");
        let step = (bytes.len() / 150).max(1);
        for at in (0..bytes.len()).step_by(step) {
            read(&bytes[..at]);
            let mut changed = bytes.clone();
            changed[at] ^= 0x5a;
            read(&changed);
        }
    }
    // Some of the changes make Arrow's decoders panic: caught, a reject.
    assert!(damaged > 0);
}

/// The batches of a Parquet file.
fn parquet_batches(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A cell of a typed column as the CSV writes it, for comparing: decimals
/// as exact numbers, times as instants.
fn cell_of(column: &ArrayRef, row: usize) -> String {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Decimal128Type, Int64Type, TimestampMillisecondType};
    use arrow_array::Array;
    use arrow_schema::DataType;
    if column.is_null(row) {
        return String::new();
    }
    match column.data_type() {
        DataType::Utf8 => column.as_string::<i32>().value(row).to_string(),
        DataType::Int64 => column.as_primitive::<Int64Type>().value(row).to_string(),
        DataType::Decimal128(_, scale) => rust_decimal::Decimal::from_i128_with_scale(
            column.as_primitive::<Decimal128Type>().value(row),
            u32::try_from(*scale).unwrap(),
        )
        .normalize()
        .to_string(),
        DataType::Timestamp(_, Some(zone)) => {
            assert_eq!(zone.as_ref(), "UTC");
            let millis = column.as_primitive::<TimestampMillisecondType>().value(row);
            chrono::DateTime::from_timestamp_millis(millis)
                .unwrap()
                .to_rfc3339()
        }
        other => panic!("unexpected column type {other}"),
    }
}

/// A CSV cell as `cell_of` writes its typed twin.
fn csv_cell(column: &str, cell: &str, typed: &arrow_schema::DataType) -> String {
    use arrow_schema::DataType;
    if cell.is_empty() {
        return String::new();
    }
    match typed {
        DataType::Decimal128(..) => cell
            .parse::<rust_decimal::Decimal>()
            .unwrap()
            .normalize()
            .to_string(),
        DataType::Timestamp(..) => chrono::DateTime::parse_from_rfc3339(cell)
            .unwrap_or_else(|e| panic!("{column}: {cell}: {e}"))
            .with_timezone(&chrono::Utc)
            .to_rfc3339(),
        _ => cell.to_string(),
    }
}

/// `--output-format parquet`: the ledger, members and rejects as typed
/// Parquet, row for row what the CSV run writes, and listed in the summary.
#[test]
fn parquet_output_has_the_csv_outputs_rows_in_typed_columns() {
    use arrow_schema::DataType;
    let dir = tempfile::tempdir().unwrap();
    let program = support::programs().join("sakura_kissa.loyalty");
    let events = support::programs().join("sakura_kissa.events.csv");
    let run = |format: &str| {
        let out = dir.path().join(format);
        let output = loyalty(&[
            "run",
            program.to_str().unwrap(),
            events.to_str().unwrap(),
            "--until",
            "2027-01-31",
            "--out",
            out.to_str().unwrap(),
            "--output-format",
            format,
            "-q",
        ]);
        assert!(output.status.success(), "{output:?}");
        out
    };
    let csv = run("csv");
    let parquet = run("parquet");
    let expected_types = [
        (
            "ledger",
            "time",
            DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, Some("UTC".into())),
        ),
        ("ledger", "amount", DataType::Decimal128(38, 0)),
        ("ledger", "cost", DataType::Decimal128(38, 0)),
        ("ledger", "kind", DataType::Utf8),
        (
            "members",
            "kissa_points_balance",
            DataType::Decimal128(38, 0),
        ),
        ("rejects", "line", DataType::Int64),
    ];
    for table in ["ledger", "members", "rejects"] {
        let batches = parquet_batches(&parquet.join(format!("{table}.parquet")));
        let schema = batches[0].schema();
        for (t, column, typed) in &expected_types {
            if *t == table {
                assert_eq!(
                    schema.field_with_name(column).unwrap().data_type(),
                    typed,
                    "{table}.{column}"
                );
            }
        }
        let mut reader = csv::Reader::from_path(csv.join(format!("{table}.csv"))).unwrap();
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, header, "{table}");
        let expected: Vec<Vec<String>> = reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                r.iter()
                    .zip(schema.fields())
                    .map(|(cell, field)| csv_cell(field.name(), cell, field.data_type()))
                    .collect()
            })
            .collect();
        let actual: Vec<Vec<String>> = batches
            .iter()
            .flat_map(|b| {
                (0..b.num_rows())
                    .map(|row| b.columns().iter().map(|c| cell_of(c, row)).collect())
                    .collect::<Vec<Vec<String>>>()
            })
            .collect();
        assert!(!expected.is_empty(), "{table}");
        assert_eq!(actual, expected, "{table}");
    }
    let summary = std::fs::read_to_string(parquet.join("summary.json")).unwrap();
    assert!(
        summary.contains("\"name\": \"ledger.parquet\""),
        "{summary}"
    );
    assert!(!parquet.join("ledger.csv").exists());
}
