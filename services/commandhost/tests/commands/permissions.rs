//! The NATS permissions of `infra/nats/authorization.conf` (issue 3): each client kind may
//! only send its own commands, only a family's service may append to that family, and each
//! service still serves its commands logged in as its own user.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use async_nats::{Event, ServerError};
use carelog_commands::{serve, RuntimeOptions, ServeError, Service, ServiceConfig};
use carelog_consent::ConsentService;
use carelog_dose::DoseService;
use carelog_eventlog::{AggregateKey, CareLog, CareLogConfig};
use carelog_observation::ObservationService;
use carelog_schemas::{Family, PatientId};
use carelog_target::TargetService;
use carelog_testkit::{NatsServer, NatsUser};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::support::{new_id, Cast};

/// How long a test waits for a reply, a refusal or the services.
const WAIT: Duration = Duration::from_secs(10);
/// How long a refused request is given to (wrongly) get an answer anyway. The server has
/// already said it dropped the message, so nothing can come; this only catches a regression.
const NO_REPLY_GRACE: Duration = Duration::from_millis(200);

/// A server enforcing the authorization config, each command service on its own connection
/// logged in as its own user, and the log read as the `carelog` user.
struct AuthorizedSystem {
    log: CareLog,
    stop: watch::Sender<bool>,
    services: Vec<JoinHandle<Result<(), ServeError>>>,
    // Last, so the server outlives the connections when dropped.
    server: NatsServer,
}

impl AuthorizedSystem {
    async fn start() -> Result<AuthorizedSystem> {
        let server = NatsServer::start_with_authorization().await?;
        let log = CareLog::connect(server.client().await?, CareLogConfig::default())
            .await
            .context("set up the care stream as the carelog user")?;
        let (stop, stopped) = watch::channel(false);
        let mut system = AuthorizedSystem {
            log,
            stop,
            services: Vec::new(),
            server,
        };
        system
            .spawn(DoseService, NatsUser::Dose, stopped.clone())
            .await?;
        system
            .spawn(ConsentService, NatsUser::Consent, stopped.clone())
            .await?;
        system
            .spawn(TargetService, NatsUser::Target, stopped.clone())
            .await?;
        system
            .spawn(ObservationService, NatsUser::Observation, stopped)
            .await?;
        // Each family pinged by a client kind allowed to send it commands.
        system
            .wait_until_serving(&[
                (NatsUser::Clinic, "dose"),
                (NatsUser::Patient, "consent"),
                (NatsUser::Patient, "target"),
                (NatsUser::Patient, "observation"),
            ])
            .await?;
        Ok(system)
    }

    async fn spawn<S: Service>(
        &mut self,
        service: S,
        user: NatsUser,
        stopped: watch::Receiver<bool>,
    ) -> Result<()> {
        let client = self.server.client_as(user).await?;
        // As a service binary does: the stream is the carelog user's to set up.
        let log = CareLog::open_checked(client.clone(), CareLogConfig::default())
            .await
            .with_context(|| format!("open the care stream as {}", user.name()))?;
        self.services.push(tokio::spawn(serve(
            Arc::new(service),
            client,
            log,
            RuntimeOptions::default(),
            stopped_signal(stopped),
        )));
        Ok(())
    }

    /// Waits until each family answers a request (before its subscription there are no
    /// responders).
    async fn wait_until_serving(&self, pings: &[(NatsUser, &str)]) -> Result<()> {
        for (user, family) in pings {
            let client = self.server.client_as(*user).await?;
            wait_for_reply(&client, &format!("care.cmd.{family}.ping")).await?;
        }
        Ok(())
    }

    /// A client logged in as `user`, and the server's errors for it (permission violations).
    async fn client_watching(
        &self,
        user: NatsUser,
    ) -> Result<(async_nats::Client, mpsc::UnboundedReceiver<String>)> {
        let (options, received) = watching_errors();
        let client = self.server.client_as_with(user, options).await?;
        Ok((client, received))
    }

    async fn commits(&self, patient_id: PatientId, family: Family) -> Result<usize> {
        Ok(self
            .log
            .load_aggregate(AggregateKey::new(patient_id, family))
            .await?
            .commits()
            .len())
    }

    async fn stop(self) -> Result<()> {
        let _ = self.stop.send(true);
        for service in self.services {
            service.await.context("join a service")??;
        }
        Ok(())
    }
}

/// Whether `client`'s user may create or update the care stream (`CareLog::connect`). A
/// refused request is dropped by the server, so it fails or goes unanswered (2 s).
async fn may_set_up_the_stream(client: async_nats::Client) -> bool {
    let set_up = tokio::time::timeout(
        Duration::from_secs(2),
        CareLog::connect(client, CareLogConfig::default()),
    )
    .await;
    matches!(set_up, Ok(Ok(_)))
}

/// The dose service's configuration as a deployment gives it: its own login in `NATS_URL`.
fn dose_service_config(server: &NatsServer) -> ServiceConfig {
    ServiceConfig {
        nats_url: server.url_as(NatsUser::Dose),
        care_log: CareLogConfig::default(),
        runtime: RuntimeOptions::default(),
    }
}

async fn stopped_signal(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Connect options that hand the server's errors for the connection (permission violations)
/// to the returned receiver.
fn watching_errors() -> (async_nats::ConnectOptions, mpsc::UnboundedReceiver<String>) {
    let (errors, received) = mpsc::unbounded_channel();
    let options = async_nats::ConnectOptions::new().event_callback(move |event| {
        let errors = errors.clone();
        async move {
            if let Event::ServerError(ServerError::Other(message)) = event {
                let _ = errors.send(message);
            }
        }
    });
    (options, received)
}

async fn wait_for_reply(client: &async_nats::Client, subject: &str) -> Result<()> {
    tokio::time::timeout(WAIT, async {
        while client
            .request(subject.to_owned(), "{}".into())
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .with_context(|| format!("nothing answered on {subject}"))
}

/// Waits for the server to report that it refused `user` publishing to `subject`.
async fn expect_publish_refused(
    errors: &mut mpsc::UnboundedReceiver<String>,
    user: NatsUser,
    subject: &str,
) -> Result<()> {
    let message = tokio::time::timeout(WAIT, errors.recv())
        .await
        .with_context(|| format!("{}: the server did not refuse {subject}", user.name()))?
        .context("the connection's events ended")?
        .to_lowercase();
    if !message.contains("permissions violation for publish") || !message.contains(subject) {
        bail!(
            "{}: expected a publish permission violation on {subject}, got {message:?}",
            user.name()
        );
    }
    Ok(())
}

/// Sends a command as `user` and returns its reply.
async fn send(
    client: &async_nats::Client,
    command: &str,
    envelope: &Value,
) -> Result<serde_json::Value> {
    let reply = tokio::time::timeout(
        WAIT,
        client.request(format!("care.cmd.{command}"), envelope.to_string().into()),
    )
    .await
    .context("no reply in time")?
    .context("request failed")?;
    serde_json::from_slice(&reply.payload).context("the reply is not JSON")
}

fn consent_grant(cast: &Cast) -> Value {
    cast.command(
        &cast.patient,
        json!({
            "consent_id": new_id(),
            "grantee_id": cast.therapist_id,
            "grantee_role": "therapist",
            "scopes": ["targets", "sessions"],
            "purpose": "CBT between doses",
            "expires_at": "2099-01-01T00:00:00Z",
        }),
    )
}

fn start_course(cast: &Cast) -> Value {
    cast.command(
        &cast.clinic,
        json!({
            "course_id": new_id(),
            "clinic_id": cast.clinic_id,
            "path": "spravato",
            "prescriber_id": "2f1a4c9d-8e7b-4a5f-8e3d-2c1b5b0c3f5e",
            "age_65_or_older": false,
        }),
    )
}

#[tokio::test]
async fn a_clinic_cannot_send_a_consent_command_and_a_patient_can() -> Result<()> {
    let system = AuthorizedSystem::start().await?;
    let cast = Cast::new();
    let grant = consent_grant(&cast);
    let subject = "care.cmd.consent.grant";

    let (clinic, mut refusals) = system.client_watching(NatsUser::Clinic).await?;
    let request = tokio::spawn({
        let clinic = clinic.clone();
        let body = grant.to_string();
        async move { clinic.request(subject, body.into()).await }
    });
    expect_publish_refused(&mut refusals, NatsUser::Clinic, subject).await?;
    match tokio::time::timeout(NO_REPLY_GRACE, request).await {
        Ok(Ok(Ok(reply))) => bail!(
            "the clinic's consent command was answered: {}",
            String::from_utf8_lossy(&reply.payload)
        ),
        // No reply (timed out or failed): the command never reached the service.
        Ok(Ok(Err(_))) | Err(_) => {}
        Ok(Err(join)) => bail!("the clinic's request task failed: {join}"),
    }
    assert_eq!(system.commits(cast.patient_id(), Family::Consent).await?, 0);

    // The same command from the patient's app goes through.
    let patient = system.server.client_as(NatsUser::Patient).await?;
    let reply = send(&patient, "consent.grant", &grant).await?;
    assert_eq!(reply["ok"], json!(true), "{reply}");
    assert_eq!(system.commits(cast.patient_id(), Family::Consent).await?, 1);
    system.stop().await
}

#[tokio::test]
async fn only_a_familys_service_may_publish_to_its_family() -> Result<()> {
    let system = AuthorizedSystem::start().await?;
    let cast = Cast::new();
    let dose_subject = format!("care.dose.{}", cast.patient_id);
    // Every client kind, and a service of another family, try to append to the dose family
    // directly, bypassing the dose service.
    for user in [
        NatsUser::Clinic,
        NatsUser::Therapist,
        NatsUser::Patient,
        NatsUser::Auditor,
        NatsUser::Projections,
        NatsUser::Consent,
    ] {
        let (client, mut refusals) = system.client_watching(user).await?;
        client
            .publish(dose_subject.clone(), "not a commit".into())
            .await
            .context("hand the publish to the client")?;
        client.flush().await.context("flush the publish")?;
        expect_publish_refused(&mut refusals, user, &dose_subject).await?;
    }
    assert_eq!(system.commits(cast.patient_id(), Family::Dose).await?, 0);

    // The consent service's own user may append to its own family (here through the same raw
    // publish, refused above for care.dose): the check above is about the family, not publish.
    let (consent, mut refusals) = system.client_watching(NatsUser::Consent).await?;
    let jetstream = async_nats::jetstream::new(consent);
    let ack = jetstream
        .publish(format!("care.consent.{}", cast.patient_id), "x".into())
        .await
        .context("publish to care.consent as the consent service")?;
    tokio::time::timeout(WAIT, ack)
        .await
        .context("no acknowledgement in time")?
        .context("the care stream refused the consent service's publish")?;
    assert!(
        refusals.try_recv().is_err(),
        "the consent service was refused its own family"
    );
    system.stop().await
}

#[tokio::test]
async fn the_dose_service_serves_commands_as_its_own_user_from_a_nats_url() -> Result<()> {
    let server = NatsServer::start_with_authorization().await?;
    // `carelog setup`'s part, as the carelog user.
    let log = CareLog::connect(server.client().await?, CareLogConfig::default()).await?;
    // The login travels in NATS_URL, as a deployment would configure it.
    let config = dose_service_config(&server);
    let (stop, stopped) = watch::channel(false);
    let service = tokio::spawn(carelog_commands::run_service(
        DoseService,
        config,
        stopped_signal(stopped),
    ));
    let clinic = server.client_as(NatsUser::Clinic).await?;
    wait_for_reply(&clinic, "care.cmd.dose.ping").await?;

    let cast = Cast::new();
    let reply = send(&clinic, "dose.start_course", &start_course(&cast)).await?;
    assert_eq!(reply["ok"], json!(true), "{reply}");
    let history = log
        .load_aggregate(AggregateKey::new(cast.patient_id(), Family::Dose))
        .await?;
    assert_eq!(history.commits().len(), 1);

    let _ = stop.send(true);
    service.await.context("join the dose service")??;
    Ok(())
}

#[tokio::test]
async fn a_service_on_another_services_login_stops_saying_so_instead_of_serving_nothing(
) -> Result<()> {
    let server = NatsServer::start_with_authorization().await?;
    CareLog::connect(server.client().await?, CareLogConfig::default()).await?;
    // The dose service, deployed with the consent service's login by mistake: it may open the
    // log, but its command subscription is refused.
    let config = ServiceConfig {
        nats_url: server.url_as(NatsUser::Consent),
        ..dose_service_config(&server)
    };
    let stopped = tokio::time::timeout(
        WAIT,
        carelog_commands::run_service(DoseService, config, std::future::pending()),
    )
    .await
    .context("the dose service kept running on the consent service's login")?;
    match stopped {
        Err(error @ ServeError::Refused { .. }) => {
            let said = error.to_string();
            assert!(
                said.contains("care.cmd.dose.*") && said.contains("NATS_URL"),
                "{said}"
            );
        }
        other => bail!("expected a refusal, got {other:?}"),
    }
    // The four services in one process on a client kind's login: the same.
    let config = ServiceConfig {
        nats_url: server.url_as(NatsUser::Clinic),
        ..dose_service_config(&server)
    };
    let all = tokio::time::timeout(
        WAIT,
        carelog_commandhost::run_all(config, std::future::pending()),
    )
    .await
    .context("the services kept running on a clinic login")?;
    assert!(all.is_err(), "{all:?}");
    Ok(())
}

#[tokio::test]
async fn a_service_user_cannot_take_another_familys_commands_and_anonymous_clients_are_refused(
) -> Result<()> {
    let server = NatsServer::start_with_authorization().await?;
    // Without a login, the server refuses the connection.
    let anonymous = async_nats::connect(server.url()).await;
    assert!(anonymous.is_err(), "an anonymous client was let in");

    // The dose service may not listen to consent commands, nor to its own outside its queue
    // group (where it would see every command beside the serving instances).
    let (options, mut refusals) = watching_errors();
    let dose = server.client_as_with(NatsUser::Dose, options).await?;
    for (subject, queue_group) in [
        ("care.cmd.consent.*", Some("carelog-consent")),
        ("care.cmd.dose.*", None),
    ] {
        let _subscription = match queue_group {
            Some(group) => dose.queue_subscribe(subject, group.to_owned()).await?,
            None => dose.subscribe(subject).await?,
        };
        dose.flush().await?;
        let message = tokio::time::timeout(WAIT, refusals.recv())
            .await
            .with_context(|| format!("the server did not refuse a subscription to {subject}"))?
            .context("the connection's events ended")?
            .to_lowercase();
        assert!(
            message.contains("permissions violation for subscription") && message.contains(subject),
            "{subject}: {message}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn the_carelog_user_serves_all_four_families() -> Result<()> {
    let server = NatsServer::start_with_authorization().await?;
    // `carelog setup`'s part: the command host, like each service, only opens the stream.
    CareLog::connect(server.client().await?, CareLogConfig::default()).await?;
    let config = carelog_commandhost::Config {
        nats_url: server.url_as(NatsUser::Carelog),
        care_log: CareLogConfig::default(),
        runtime: RuntimeOptions::default(),
    };
    let (stop, stopped) = watch::channel(false);
    let services = tokio::spawn(carelog_commandhost::run_all(
        config,
        stopped_signal(stopped),
    ));
    let clinic = server.client_as(NatsUser::Clinic).await?;
    let patient = server.client_as(NatsUser::Patient).await?;
    wait_for_reply(&clinic, "care.cmd.dose.ping").await?;
    wait_for_reply(&patient, "care.cmd.consent.ping").await?;

    let cast = Cast::new();
    let reply = send(&clinic, "dose.start_course", &start_course(&cast)).await?;
    assert_eq!(reply["ok"], json!(true), "{reply}");
    let reply = send(&patient, "consent.grant", &consent_grant(&cast)).await?;
    assert_eq!(reply["ok"], json!(true), "{reply}");

    let _ = stop.send(true);
    services.await.context("join the command services")??;
    Ok(())
}

#[tokio::test]
async fn a_login_in_the_url_also_works_with_a_server_without_users() -> Result<()> {
    // A foreign server without authorization ignores the login the defaults carry.
    let server = NatsServer::start().await?;
    CareLog::connect(server.client().await?, CareLogConfig::default()).await?;
    let config = dose_service_config(&server);
    let (client, log) = config.connect("carelog-dose").await?;
    assert_eq!(log.last_position().await?, 0);
    client.flush().await?;
    Ok(())
}

#[tokio::test]
async fn the_auditor_verifies_the_log_read_only_and_cannot_change_the_stream() -> Result<()> {
    let system = AuthorizedSystem::start().await?;
    let cast = Cast::new();
    let patient = system.server.client_as(NatsUser::Patient).await?;
    let reply = send(&patient, "consent.grant", &consent_grant(&cast)).await?;
    assert_eq!(reply["ok"], json!(true), "{reply}");

    // What `carelog verify` does, as the auditor.
    let auditor = system.server.client_as(NatsUser::Auditor).await?;
    let log = CareLog::open(auditor.clone(), CareLogConfig::default())
        .await
        .context("open the care stream as the auditor")?;
    let report = log.verify_log().await?;
    assert!(
        report.is_intact() && report.commits_checked == 1,
        "{report:?}"
    );
    // Setting the stream up (create or update) is not the auditor's to do.
    assert!(
        !may_set_up_the_stream(auditor).await,
        "the auditor could set the care stream up"
    );
    system.stop().await
}

#[tokio::test]
async fn only_the_carelog_user_may_create_or_change_the_care_stream() -> Result<()> {
    let system = AuthorizedSystem::start().await?;
    for user in [
        NatsUser::Dose,
        NatsUser::Consent,
        NatsUser::Target,
        NatsUser::Observation,
        NatsUser::Projections,
    ] {
        let client = system.server.client_as(user).await?;
        // Opening the stream as it is works: what the services and the projections do.
        CareLog::open_checked(client.clone(), CareLogConfig::default())
            .await
            .with_context(|| format!("open the care stream as {}", user.name()))?;
        // Setting it up is refused: otherwise a service could set an age or size
        // limit, or drop replicas, and lose the clinical history.
        assert!(
            !may_set_up_the_stream(client).await,
            "{} could set the care stream up",
            user.name()
        );
    }
    let info = system
        .log
        .jetstream()
        .get_stream("CARE")
        .await?
        .info()
        .await?
        .config
        .clone();
    assert!(info.deny_delete && info.deny_purge && info.max_age.is_zero());
    system.stop().await
}

#[tokio::test]
async fn only_the_projector_may_use_its_durable_consumer() -> Result<()> {
    let system = AuthorizedSystem::start().await?;
    // The projector's consumer, as `carelog projections run` creates it.
    let projections = system.server.client_as(NatsUser::Projections).await?;
    let stream = async_nats::jetstream::new(projections)
        .get_stream("CARE")
        .await?;
    let durable = async_nats::jetstream::consumer::pull::Config {
        durable_name: Some("projections".to_owned()),
        ..Default::default()
    };
    stream.create_consumer(durable.clone()).await?;
    let created = stream.consumer_info("projections").await?.config.clone();
    let users = [
        NatsUser::Dose,
        NatsUser::Consent,
        NatsUser::Target,
        NatsUser::Observation,
        NatsUser::Auditor,
    ];
    let attempts = users.map(|user| {
        let server = &system.server;
        let durable = durable.clone();
        async move {
            let client = server.client_as(user).await?;
            let stream = async_nats::jetstream::new(client.clone())
                .get_stream("CARE")
                .await?;
            // A refused request is dropped by the server: it fails or goes unanswered (2 s).
            let within = |future| tokio::time::timeout(Duration::from_secs(2), future);
            let replaced = within(Box::pin(async {
                stream
                    .create_consumer(durable)
                    .await
                    .map(|_| ())
                    .map_err(anyhow::Error::from)
            }) as futures::future::BoxFuture<'_, Result<()>>)
            .await;
            let deleted = within(Box::pin(async {
                stream
                    .delete_consumer("projections")
                    .await
                    .map(|_| ())
                    .map_err(anyhow::Error::from)
            }))
            .await;
            // The nameless create, whose body could name the projector's consumer: refused.
            let body = json!({
                "stream_name": "CARE",
                "config": { "name": "projections", "ack_policy": "explicit", "max_ack_pending": 1 },
            });
            let nameless = within(Box::pin(async {
                client
                    .request("$JS.API.CONSUMER.CREATE.CARE", body.to_string().into())
                    .await
                    .map(|_| ())
                    .map_err(anyhow::Error::from)
            }))
            .await;
            // Its own short-lived consumers (aggregate loads, replays), named, stay its to make
            // and delete.
            let own = stream
                .create_consumer(async_nats::jetstream::consumer::pull::Config {
                    name: Some(format!("own-{}", user.name())),
                    ..Default::default()
                })
                .await?;
            let own_name = own.cached_info().name.clone();
            stream.delete_consumer(&own_name).await?;
            anyhow::Ok((
                user,
                matches!(replaced, Ok(Ok(()))),
                matches!(deleted, Ok(Ok(()))),
                matches!(nameless, Ok(Ok(()))),
            ))
        }
    });
    for outcome in futures::future::join_all(attempts).await {
        let (user, replaced, deleted, nameless) = outcome?;
        assert!(
            !nameless,
            "{} could create a consumer without naming it in the subject",
            user.name()
        );
        assert!(
            !replaced,
            "{} could replace the projector's consumer",
            user.name()
        );
        assert!(
            !deleted,
            "{} could delete the projector's consumer",
            user.name()
        );
    }
    let info = stream.consumer_info("projections").await?;
    assert_eq!(info.name, "projections");
    assert_eq!(info.config.max_ack_pending, created.max_ack_pending);
    assert_eq!(info.config.durable_name, created.durable_name);
    system.stop().await
}

#[tokio::test]
async fn a_service_started_before_the_stream_exists_says_how_to_set_it_up() -> Result<()> {
    let server = NatsServer::start_with_authorization().await?;
    let config = dose_service_config(&server);
    let (_stop, stopped) = watch::channel(false);
    let served = tokio::time::timeout(
        WAIT,
        carelog_commands::run_service(DoseService, config, stopped_signal(stopped)),
    )
    .await
    .context("the dose service neither served nor stopped")?;
    let error = served.expect_err("the dose service ran without a care stream");
    assert!(
        matches!(
            error,
            ServeError::CareLog(carelog_eventlog::SetupError::Missing { .. })
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("carelog setup"), "{error}");
    // And it created nothing.
    let carelog = async_nats::jetstream::new(server.client().await?);
    assert!(carelog.get_stream("CARE").await.is_err());
    Ok(())
}

#[tokio::test]
async fn a_service_refuses_a_care_stream_that_would_lose_history() -> Result<()> {
    let server = NatsServer::start().await?;
    // A stream of the right name set up by hand, with an age limit and purges allowed.
    let jetstream = async_nats::jetstream::new(server.client().await?);
    jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: "CARE".to_owned(),
            subjects: AggregateKey::stream_subjects(),
            max_age: Duration::from_secs(30 * 86_400),
            duplicate_window: carelog_eventlog::MIN_DUPLICATE_WINDOW,
            allow_direct: true,
            deny_delete: true,
            ..Default::default()
        })
        .await?;
    let config = dose_service_config(&server);
    let error = config
        .connect("carelog-dose")
        .await
        .err()
        .context("the dose service accepted a stream with an age limit")?;
    let said = error.to_string();
    assert!(
        said.contains("max_age") && said.contains("purges") && said.contains("carelog setup"),
        "{said}"
    );
    // `carelog setup`'s part restores the settings, and the service then opens the stream.
    CareLog::connect(server.client().await?, CareLogConfig::default()).await?;
    config.connect("carelog-dose").await?;
    Ok(())
}
