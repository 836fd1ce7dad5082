//! What storing a link's history as one JSON string buys a sync: CPU per read of an app's
//! partition (one link, a full history) with the history as text and as the list of maps
//! older versions wrote, alternated in one run against one moto; and the history's own
//! encoding both ways; and, for scale, the CPU of a DynamoDB call with nothing to decode. `cargo run --release -p bench --example history_codec` (numbers in
//! bench/NOTES.md).

use aws_sdk_dynamodb::types::AttributeValue;
use shared::domain::{
    AppId, AppRecord, ConfigVarName, EnvVarName, Fingerprint, HISTORY_LEN, HistoryEntry,
    HistoryKind, Link, LinkStatus, ProjectId,
};
use shared::ports::{AppStore, Guard};
use std::collections::HashMap;
use std::hint::black_box;

const TABLE: &str = "history-codec";
const READS: usize = 200;
const ROUNDS: usize = 6;

/// This process's CPU time (all threads), in ms.
fn cpu_ms() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 * 1e3 + t.tv_nsec as f64 / 1e6
}

/// A link as a busy one looks: synced at every one of its last `HISTORY_LEN` releases.
fn busy_link(app: &AppId) -> Link {
    let at = time::OffsetDateTime::now_utc();
    let mut link = Link {
        project_id: ProjectId::parse("p-codec").unwrap(),
        env_var: EnvVarName::parse("DATABASE_URL").unwrap(),
        app_id: app.clone(),
        app_name: "codec-app".into(),
        config_var: ConfigVarName::parse("DATABASE_URL").unwrap(),
        status: LinkStatus::Active,
        fingerprint: Some(Fingerprint::of("salt", "postgres://u:p@h:5432/d")),
        last_release_version: Some(100),
        writing_version: None,
        last_synced_at: Some(at),
        last_checked_at: None,
        last_delivery_at: Some(at),
        last_repair: None,
        last_error: None,
        linked_at: at,
        linked_by: "owner".into(),
        history: vec![],
    };
    for v in 0..HISTORY_LEN as u64 {
        link.record(HistoryEntry {
            at,
            kind: HistoryKind::Synced,
            release_version: Some(80 + v),
            detail: None,
        });
    }
    link
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let moto = local::moto::Moto::start(0)?;
    let sdk = shared::aws::local(&moto.url).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    local::bootstrap::ensure_table(&client, TABLE).await?;
    let store = shared::adapters::DynamoStore::new(client.clone(), TABLE.to_owned());

    // Two apps alike but for how their link's history is stored.
    let (text_app, list_app) = (
        AppId::parse("11111111-1111-1111-1111-111111111111").unwrap(),
        AppId::parse("22222222-2222-2222-2222-222222222222").unwrap(),
    );
    let mut link = busy_link(&list_app);
    for app in [&text_app, &list_app] {
        let mut record = AppRecord::new(app.clone(), "codec-app");
        link = busy_link(app);
        record.links.insert(link.key(), link.clone());
        store
            .save_app(&record, Guard::New)
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut old: HashMap<String, AttributeValue> =
        serde_dynamo::to_item(&link).map_err(|e| e.to_string())?;
    old.insert(
        "history".into(),
        serde_dynamo::to_attribute_value(&link.history).unwrap(),
    );
    old.insert("pk".into(), AttributeValue::S(format!("APP#{list_app}")));
    old.insert(
        "sk".into(),
        AttributeValue::S(format!("LINK#{}", link.key())),
    );
    client
        .put_item()
        .table_name(TABLE)
        .set_item(Some(old))
        .send()
        .await
        .map_err(|e| e.to_string())?;

    let mut spent = [0.0f64; 2];
    for round in 0..=ROUNDS {
        for (i, app) in [&text_app, &list_app].into_iter().enumerate() {
            let start = cpu_ms();
            for _ in 0..READS {
                let r = store.load_app(app).await.map_err(|e| e.to_string())?;
                black_box(r);
            }
            // Round 0 warms up.
            if round > 0 {
                spent[i] += cpu_ms() - start;
            }
        }
    }
    let per = |ms: f64| ms / (ROUNDS * READS) as f64;
    println!(
        "read of the app's partition (one link, {HISTORY_LEN} history entries), CPU per read of this process:"
    );
    println!("  history as text: {:.3} ms", per(spent[0]));
    println!("  history as list: {:.3} ms", per(spent[1]));
    println!("  text / list:     {:.2}", spent[0] / spent[1]);

    // The SDK's floor: a GetItem of an item that is not there (nothing to decode).
    let (project, env) = (
        ProjectId::parse("p-none").unwrap(),
        EnvVarName::parse("NONE").unwrap(),
    );
    let start = cpu_ms();
    for _ in 0..READS * 2 {
        black_box(
            store
                .directory_entry(&project, &env)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let floor = (cpu_ms() - start) / (READS * 2) as f64;
    println!("  (a GetItem of an absent item, the SDK's floor per call: {floor:.3} ms)");
    // The same request as bare HTTP (reqwest, kept alive, an unsigned copy of the SDK's
    // body and headers; moto does not check signatures): what the SDK adds per call.
    let http = reqwest::Client::new();
    let body = format!(
        r#"{{"TableName":"{TABLE}","Key":{{"pk":{{"S":"PROJECT#p-none"}},"sk":{{"S":"ENV#NONE"}}}},"ConsistentRead":true}}"#
    );
    let bare = || async {
        http.post(&moto.url)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", "DynamoDB_20120810.GetItem")
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .body(body.clone())
            .send()
            .await?
            .bytes()
            .await
    };
    black_box(bare().await.map_err(|e| e.to_string())?);
    let start = cpu_ms();
    for _ in 0..READS * 2 {
        black_box(bare().await.map_err(|e| e.to_string())?);
    }
    let raw = (cpu_ms() - start) / (READS * 2) as f64;
    println!("  (the same GetItem as bare HTTP, no SDK: {raw:.3} ms)");

    // The history's own encoding (a save encodes each link it writes: twice per sync).
    let n = 20_000;
    let start = cpu_ms();
    for _ in 0..n {
        black_box(serde_json::to_string(black_box(&link.history)).unwrap());
    }
    let text = (cpu_ms() - start) / n as f64;
    let start = cpu_ms();
    for _ in 0..n {
        black_box(
            serde_dynamo::to_attribute_value::<_, AttributeValue>(black_box(&link.history))
                .unwrap(),
        );
    }
    let list = (cpu_ms() - start) / n as f64;
    println!(
        "encoding the history: as text {:.2} µs, as list {:.2} µs ({:.2}×)",
        text * 1e3,
        list * 1e3,
        list / text
    );
    Ok(())
}
