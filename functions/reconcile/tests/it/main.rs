//! The reconciler end to end: the local stack (moto over HTTP for DynamoDB, Secrets
//! Manager and SQS; the fake Heroku over HTTP), every function mounted, passes planned
//! onto a real queue and drained the way Lambda's SQS trigger would.

mod events;
mod pending;
mod repairs;
mod rotation;

use fake_heroku::{App, User};
use local::fixture::Stack;
use reconcile::{Reconcile, SqsQueue};
use shared::domain::Link;
use shared::http::Function;
use shared::reconcile::ReconcileSettings;
use std::sync::Arc;
use std::time::Duration;

pub const PROJECT: &str = "p1";
pub const ENV_VAR: &str = "PG_DATABASE_URL";

pub struct World {
    pub stack: Stack,
    pub user: User,
    pub app: App,
}

pub async fn stack() -> Stack {
    Stack::start(Box::new(|svc, gw| {
        gw.mount_handler(
            Function::Webhook,
            Arc::new(webhook::Webhook::new(svc.clone())),
        )
        .mount_handler(
            Function::Connect,
            Arc::new(connect::Connect::new(svc.clone())),
        )
        .mount_handler(Function::OptOut, Arc::new(opt_out::OptOut::new(svc)))
    }))
    .await
}

/// `p1/PG_DATABASE_URL` linked to DATABASE_URL of a fresh app.
pub async fn world() -> World {
    let stack = stack().await;
    let user = stack.heroku.create_user("owner@example.com");
    let app = stack.heroku.create_app(&user, "sample-app");
    stack
        .heroku
        .add_postgres(&app, "heroku-postgresql:essential-0");
    stack.connect(PROJECT, "user-1", &user).await;
    stack
        .link(PROJECT, ENV_VAR, &app.name, "DATABASE_URL")
        .await;
    World { stack, user, app }
}

/// Test settings: no grace period (the tests' releases are seconds old) and every pass
/// checks every subscription unless a test says otherwise.
pub fn settings() -> ReconcileSettings {
    ReconcileSettings {
        grace: Duration::ZERO,
        subscription_check_every: 1,
        ..ReconcileSettings::default()
    }
}

pub fn reconciler(stack: &Stack, settings: ReconcileSettings) -> Reconcile {
    Reconcile::new(
        stack.svc.clone(),
        SqsQueue::new(stack.sqs.clone(), stack.reconcile_queue_url.clone()),
        settings,
    )
}

/// One whole pass: plan onto the queue, then drain it. Returns the messages worked.
pub async fn pass(r: &Reconcile) -> usize {
    let planned = r.plan().await.expect("plan");
    let worked = reconcile::drain(r).await.expect("drain");
    assert_eq!(
        worked, planned.messages,
        "every planned message was worked once"
    );
    worked
}

impl World {
    pub fn heroku_url(&self) -> String {
        self.stack
            .heroku
            .config_var(&self.app, "DATABASE_URL")
            .expect("DATABASE_URL")
    }

    pub async fn env(&self) -> Option<String> {
        self.stack.env_value(PROJECT, ENV_VAR).await
    }

    pub async fn link(&self) -> Link {
        self.stack
            .app_record(&self.app.id)
            .await
            .expect("app record")
            .links
            .into_values()
            .find(|l| l.project_id.as_str() == PROJECT && l.env_var.as_str() == ENV_VAR)
            .expect("link")
    }
}
