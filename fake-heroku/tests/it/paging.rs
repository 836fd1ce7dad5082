//! List paging: `Range` in, 206 + `Next-Range` while more remain, 200 at the end.

use std::collections::BTreeSet;

use crate::common::setup;

#[tokio::test]
async fn two_hundred_fifty_addons_come_back_in_two_pages_without_gaps_or_repeats() {
    let (heroku, user, _tokens, api) = setup().await;
    let mut expected = BTreeSet::new();
    for a in 0..50 {
        let app = heroku.create_app(&user, &format!("app-{a}"));
        for _ in 0..5 {
            expected.insert(
                heroku
                    .add_postgres(&app, "heroku-postgresql:essential-0")
                    .id,
            );
        }
    }
    assert_eq!(expected.len(), 250);

    let first = api.get("/addons").await;
    assert_eq!(first.status, 206);
    assert_eq!(first.body.as_array().unwrap().len(), 200);
    let next = first
        .header("next-range")
        .expect("Next-Range on a 206")
        .to_owned();
    assert!(
        next.starts_with("id ]") && next.ends_with("..; max=200"),
        "{next}"
    );

    let second = api.send("GET", "/addons", None, Some(&next)).await;
    assert_eq!(second.status, 200);
    assert!(second.header("next-range").is_none());
    assert_eq!(second.body.as_array().unwrap().len(), 50);

    let ids: Vec<String> = first
        .body
        .as_array()
        .unwrap()
        .iter()
        .chain(second.body.as_array().unwrap())
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "duplicates across pages");
    assert_eq!(unique, expected, "missing or foreign add-ons");
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "pages are in id order");
}

#[tokio::test]
async fn small_pages_follow_next_range_to_the_end_in_either_order() {
    let (heroku, user, _tokens, api) = setup().await;
    let app = heroku.create_app(&user, "paged");
    for i in 0..10 {
        heroku.set_config_var(&app, "N", Some(&i.to_string()));
    }
    // 2 releases from creation + 10.
    for (order, expect) in [
        ("", (1..=12).collect::<Vec<u64>>()),
        (", order=desc", (1..=12).rev().collect()),
    ] {
        let mut range = format!("version ..; max=5{order}");
        let mut seen = Vec::new();
        for _ in 0..10 {
            let r = api
                .send("GET", "/apps/paged/releases", None, Some(&range))
                .await;
            seen.extend(
                r.body
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x["version"].as_u64().unwrap()),
            );
            match r.header("next-range") {
                Some(n) => {
                    assert_eq!(r.status, 206);
                    range = n.to_owned();
                }
                None => {
                    assert_eq!(r.status, 200);
                    break;
                }
            }
        }
        assert_eq!(seen, expect, "order {order:?}");
    }
}

#[tokio::test]
async fn newest_release_is_max_one_desc() {
    let (heroku, user, _tokens, api) = setup().await;
    let app = heroku.create_app(&user, "newest");
    heroku.set_config_var(&app, "A", Some("1"));
    let last = heroku.deploy(&app);
    let r = api
        .send(
            "GET",
            "/apps/newest/releases",
            None,
            Some("version ..; max=1, order=desc"),
        )
        .await;
    assert_eq!(r.status, 206, "older releases remain");
    let page = r.body.as_array().unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0]["version"].as_u64().unwrap(), last.version);
    assert_eq!(page[0]["id"], last.id);
    assert_eq!(page[0]["current"], true);
}

#[tokio::test]
async fn a_bad_range_is_a_400_and_max_is_capped_at_1000() {
    let (heroku, user, _tokens, api) = setup().await;
    heroku.create_app(&user, "one-app");
    let r = api
        .send("GET", "/apps", None, Some("version ..; max=10"))
        .await;
    assert_eq!(
        (r.status, r.body["id"].as_str()),
        (400, Some("bad_request"))
    );
    let r = api
        .send("GET", "/apps", None, Some("name ..; max=5000"))
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-range").unwrap().ends_with("max=1000"),
        "{:?}",
        r.header("content-range")
    );
}
