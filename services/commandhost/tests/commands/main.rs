//! The four command services against a real nats-server, driven over NATS request-reply with
//! JSON commands exactly as a clinic integration, a therapist dashboard or a patient app
//! would, checking the replies and the log afterwards.

mod consent;
mod dose;
mod input;
mod observation;
mod permissions;
mod races;
mod replay;
mod seed000;
mod support;
mod target;
