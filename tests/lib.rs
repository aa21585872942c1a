//! Cross-service tests live beside this file; the crate itself holds no code.
