//! `make demo`: starts the local stack and plays the whole story in the terminal —
//! connect through Heroku's OAuth redirect, list databases, link, rotate and watch the
//! env var follow, opt out, rotate again and watch it stay. Exits non-zero if any step
//! does not do what it should, so CI can run it.

use devserver::{LocalStack, Options};
use fake_heroku::DeliveryMode;
use reqwest::redirect::Policy;
use serde_json::Value;
use std::time::{Duration, Instant};

const PROJECT: &str = "proj-demo";
const ENV_VAR: &str = "PG_DATABASE_URL";

type Step<T> = Result<T, String>;

fn ensure(ok: bool, what: impl Into<String>) -> Step<()> {
    if ok { Ok(()) } else { Err(what.into()) }
}

/// `postgres://user:secret@host/db` → `postgres://user:••••cret@host/db`: enough to see it
/// change, not enough to use.
fn masked(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, pass)) => {
                    let tail: String = pass
                        .chars()
                        .rev()
                        .take(4)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    format!("{}{user}:••••{tail}{}", &url[..scheme + 3], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => "(not a URL)".into(),
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Step<(u16, Value, Option<String>)> {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self
            .http
            .request(method.parse().map_err(|_| "bad method")?, &url)
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let json = resp.json::<Value>().await.unwrap_or(Value::Null);
        let shown = path
            .split('?')
            .next()
            .unwrap_or(path)
            .replace(&self.base, "");
        println!("   {method:<6} {shown:<62} → {status}");
        Ok((status, json, location))
    }
}

async fn env_value(secrets: &aws_sdk_secretsmanager::Client, name: &str) -> Option<String> {
    secrets
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .ok()
        .and_then(|v| v.secret_string().map(str::to_owned))
}

async fn story(stack: &LocalStack) -> Step<()> {
    let heroku = stack
        .heroku
        .as_ref()
        .ok_or("the demo needs the fake Heroku: unset HEROKU_API_URL/HEROKU_ID_URL")?;
    let sdk = shared::aws::local(&stack.aws_endpoint).await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let secret_name = format!(
        "{}/projects/{PROJECT}/env/{ENV_VAR}",
        stack.config.secret_prefix
    );
    let api = Api {
        http: reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .map_err(|e| e.to_string())?,
        base: stack.base_url.clone(),
        token: stack.token("dana", PROJECT, &[]),
    };

    let dana = heroku.create_user("dana@example.com");
    let app = heroku.create_app(&dana, "acme-shop");
    heroku.add_postgres(&app, "heroku-postgresql:essential-0");
    heroku.set_browser_user(&dana);
    let heroku_url = || heroku.config_var(&app, "DATABASE_URL").unwrap_or_default();
    println!(
        "\n▸ On Heroku: dana@example.com owns app `acme-shop` with heroku-postgresql:essential-0"
    );
    println!("   DATABASE_URL = {}", masked(&heroku_url()));

    println!("\n1. Connect Heroku (OAuth; the platform's JWT says sub=dana, project_id={PROJECT})");
    let (status, json, _) = api
        .call(
            "POST",
            &format!("/projects/{PROJECT}/integrations/heroku/authorize"),
            None,
        )
        .await?;
    ensure(
        status == 200,
        format!("authorize answered {status}: {json}"),
    )?;
    let authorize_url = json["authorize_url"].as_str().ok_or("no authorize_url")?;
    let at_heroku = api
        .http
        .get(authorize_url)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let callback = at_heroku
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or("Heroku did not redirect back")?
        .to_owned();
    println!("   browser at Heroku /oauth/authorize: dana approves          → 302 to our callback");
    let (status, _, location) = api.call("GET", &callback, None).await?;
    let location = location.unwrap_or_default();
    // The callback holds the grant pending; only dana, who started the connect, can make
    // it the connection (docs/contract.md, the confirm route).
    let confirmation = reqwest::Url::parse(&location)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "confirmation")
                .map(|(_, v)| v.into_owned())
        })
        .filter(|_| location.contains("heroku=confirm"));
    let Some(confirmation) = confirmation.filter(|_| status == 302) else {
        return Err(format!("callback: {status} {location}"));
    };
    println!(
        "   browser lands on {}",
        location.replace(
            &confirmation,
            &format!("{}…", confirmation.get(..6).unwrap_or_default())
        )
    );
    println!("   (the grant is held pending: nothing is connected until dana confirms)");
    let (status, json, _) = api
        .call(
            "POST",
            &format!("/projects/{PROJECT}/integrations/heroku/confirm"),
            Some(serde_json::json!({ "confirmation": confirmation })),
        )
        .await?;
    ensure(
        status == 200 && json["status"] == "connected",
        format!("confirm answered {status}: {json}"),
    )?;
    println!("   connected: the console confirmed with dana's own token (nobody else's would do)");

    println!("\n2. List the Heroku Postgres databases dana can reach");
    let (status, json, _) = api
        .call(
            "GET",
            &format!("/projects/{PROJECT}/integrations/heroku/databases"),
            None,
        )
        .await?;
    ensure(status == 200, format!("databases: {status}"))?;
    for db in json["databases"].as_array().cloned().unwrap_or_default() {
        println!(
            "     {:<12} {:<32} {}",
            db["app"]["name"].as_str().unwrap_or(""),
            db["addon"]["plan"].as_str().unwrap_or(""),
            db["config_vars"]
                .as_array()
                .map(|v| v
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        );
    }

    println!("\n3. Link {ENV_VAR} to DATABASE_URL of acme-shop (subscribes, then syncs at once)");
    let (status, json, _) = api
        .call(
            "PUT",
            &format!("/projects/{PROJECT}/env-vars/{ENV_VAR}/heroku-sync"),
            Some(serde_json::json!({"app": "acme-shop", "config_var": "DATABASE_URL"})),
        )
        .await?;
    ensure(status == 201, format!("link: {status} {json}"))?;
    let first = env_value(&secrets, &secret_name)
        .await
        .ok_or("the env var was not written")?;
    ensure(
        first == heroku_url(),
        "the env var does not hold Heroku's URL",
    )?;
    println!("   secret {secret_name}");
    println!(
        "        = {}  (equal to Heroku's DATABASE_URL)",
        masked(&first)
    );

    println!("\n4. Heroku rotates the credentials (pg:credentials:rotate)");
    let started = Instant::now();
    let release = heroku.rotate_credentials(&app);
    let rotated = heroku_url();
    loop {
        if env_value(&secrets, &secret_name).await.as_deref() == Some(rotated.as_str()) {
            break;
        }
        if started.elapsed() > Duration::from_secs(20) {
            return Err("the env var did not follow the rotation within 20 s".into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!(
        "   release v{} → signed api:release webhook → env var updated in {} ms",
        release.version,
        started.elapsed().as_millis()
    );
    println!("        = {}", masked(&rotated));

    println!("\n5. A delivery is lost (say Heroku's retries ran out during an outage)");
    heroku.set_delivery_mode(DeliveryMode::Hold);
    let release = heroku.rotate_credentials(&app);
    let lost = heroku.take_held();
    heroku.set_delivery_mode(DeliveryMode::Auto);
    ensure(lost.len() == 1, "one delivery was held back")?;
    let stale = env_value(&secrets, &secret_name).await.unwrap_or_default();
    ensure(
        stale != heroku_url(),
        "the env var changed without a delivery",
    )?;
    println!(
        "   release v{}: Heroku's DATABASE_URL = {}; its delivery never arrives",
        release.version,
        masked(&heroku_url())
    );
    println!(
        "   env var still                         = {}  (stale)",
        masked(&stale)
    );
    let started = Instant::now();
    let pass = stack.reconcile_pass(Duration::ZERO).await?;
    let caught_up = env_value(&secrets, &secret_name).await.unwrap_or_default();
    ensure(
        caught_up == heroku_url(),
        "the reconciler did not bring the env var up to the newest release",
    )?;
    let (_, json, _) = api
        .call(
            "GET",
            &format!("/projects/{PROJECT}/integrations/heroku"),
            None,
        )
        .await?;
    let repair = json["links"][0]["last_repair"]["what"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    ensure(!repair.is_empty(), "the status does not show the repair")?;
    println!(
        "   the reconciler's pass (every RECONCILE_INTERVAL_S in `make dev`, 15 min in AWS): \
         {} app(s), {} SQS message(s), {} ms",
        pass.apps,
        pass.messages,
        started.elapsed().as_millis()
    );
    println!(
        "   env var caught up                     = {}",
        masked(&caught_up)
    );
    println!("   status shows last_repair: \"{repair}\"");
    let rotated = caught_up;

    println!("\n6. Opt out of the sync for {ENV_VAR}");
    let (status, _, _) = api
        .call(
            "DELETE",
            &format!("/projects/{PROJECT}/env-vars/{ENV_VAR}/heroku-sync"),
            None,
        )
        .await?;
    ensure(status == 204, format!("opt out: {status}"))?;
    let subs = heroku.webhooks(&app).len();
    println!("   the link is opted_out; Heroku subscriptions left on acme-shop: {subs}");
    ensure(subs == 0, "the unused subscription was not removed")?;

    println!("\n7. Heroku rotates again");
    let release = heroku.rotate_credentials(&app);
    if !heroku
        .wait_deliveries_settled(Duration::from_secs(20))
        .await
    {
        return Err("deliveries did not settle".into());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let now = env_value(&secrets, &secret_name).await.unwrap_or_default();
    ensure(now == rotated, "the env var changed after opting out")?;
    ensure(now != heroku_url(), "Heroku's URL did not change")?;
    println!(
        "   release v{}: Heroku's DATABASE_URL = {}",
        release.version,
        masked(&heroku_url())
    );
    println!(
        "   env var unchanged                     = {}  (opted out: kept, never deleted)",
        masked(&now)
    );

    println!("\n8. What the status route shows");
    let (_, json, _) = api
        .call(
            "GET",
            &format!("/projects/{PROJECT}/integrations/heroku"),
            None,
        )
        .await?;
    for link in json["links"].as_array().cloned().unwrap_or_default() {
        println!(
            "     {} ← {} of {}: {}, last release v{}, history: {}",
            link["env_var"].as_str().unwrap_or(""),
            link["config_var"].as_str().unwrap_or(""),
            link["app"]["name"].as_str().unwrap_or(""),
            link["status"].as_str().unwrap_or(""),
            link["last_release_version"],
            link["history"]
                .as_array()
                .map(|h| h
                    .iter()
                    .filter_map(|e| e["kind"].as_str())
                    .collect::<Vec<_>>()
                    .join(" → "))
                .unwrap_or_default()
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    devserver::init_logs("warn");
    println!("Heroku database URL sync — demo");
    println!("================================");
    println!(
        "▸ Starting the local stack (moto_server, fake Heroku, the functions behind an API Gateway emulator, the reconciler on SQS)"
    );
    let port = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8787);
    let started = Instant::now();
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let opts = Options {
        port,
        log_requests: false,
        // The demo runs its pass itself (step 5), when the story needs it.
        reconcile_every: None,
        table_name: format!("heroku-db-url-sync-demo-{run}"),
        secret_prefix: format!("heroku-db-url-sync-demo-{run}"),
    };
    let stack = match LocalStack::start(opts).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    println!("   DynamoDB + Secrets Manager  {}", stack.emulator);
    if let Some(h) = &stack.heroku {
        println!("   fake Heroku                 {}", h.url());
    }
    println!(
        "   API                         {}   (ready in {:.1} s)",
        stack.base_url,
        started.elapsed().as_secs_f64()
    );

    let outcome = tokio::select! {
        r = story(&stack) => r,
        _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
    };
    drop(stack);
    match outcome {
        Ok(()) => println!(
            "\n✔ demo finished: connect → rotate → synced → delivery lost → caught up by the reconciler → opt out → rotate → unchanged. Everything it started is stopped."
        ),
        Err(e) => {
            eprintln!("\n✘ demo failed: {e}");
            std::process::exit(1);
        }
    }
}
