//! Configuration errors name the offending key (no server needed).

use goldrec::config::Config;

use crate::helpers::{bundled_config_text, root};

/// The bundled config with `from` replaced by `to`, asserting `from` occurs in it.
fn edited(from: &str, to: &str) -> String {
    let text = bundled_config_text();
    assert!(
        text.contains(from),
        "{from:?} is not in config/goldrec.toml"
    );
    text.replacen(from, to, 1)
}

fn error_of(text: &str) -> String {
    match Config::parse(text) {
        Ok(_) => panic!("the edited config was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_bundled_configs_are_valid() {
    let c = Config::parse(&bundled_config_text()).expect("config/goldrec.toml");
    assert_eq!(
        c.sources.keys().map(String::as_str).collect::<Vec<_>>(),
        ["crm", "support", "webshop"]
    );
    Config::load(&root().join("config/febrl.toml")).expect("config/febrl.toml");
}

#[test]
fn an_unknown_key_is_named() {
    let err = error_of(&edited("[server]\n", "[server]\nlisten_port = 1\n"));
    assert!(err.contains("listen_port"), "{err}");
    let err = error_of(&edited("[matching]\n", "[matching]\nlink_treshold = 0.9\n"));
    assert!(err.contains("link_treshold"), "{err}");
}

#[test]
fn a_review_threshold_above_the_link_threshold_is_named() {
    let err = error_of(&edited("review_threshold = 0.5", "review_threshold = 0.99"));
    assert!(err.contains("matching.review_threshold"), "{err}");
}

#[test]
fn a_mapping_of_an_unknown_attribute_is_named() {
    let err = error_of(&edited("company = \"employer\"", "compny = \"employer\""));
    assert!(err.contains("sources.crm.fields.compny"), "{err}");
    let err = error_of(&edited(
        "birth_date = \"dob\"\ncity = \"city\"",
        "birth_date = \"dob\"\ntown = \"city\"",
    ));
    assert!(err.contains("sources.support.fields.town"), "{err}");
}

#[test]
fn other_bad_values_are_named() {
    let err = error_of(&edited("name = \"source_priority\"", "name = \"loudest\""));
    assert!(err.contains("survivorship.rules.name"), "{err}");
    let err = error_of(&edited("format = \"ndjson\"", "format = \"xml\""));
    assert!(err.contains("sources.webshop.format"), "{err}");
    let err = error_of(&edited("link_threshold = 0.8", "link_threshold = 1.5"));
    assert!(err.contains("matching.link_threshold"), "{err}");
}

/// Issue 10, item 6: a config error is one line naming the key, not toml's multi-line excerpt
/// printed twice.
#[test]
fn config_errors_are_one_line_naming_the_key() {
    for (from, to, key) in [
        (
            "[server]\n",
            "[server]\nlisten_port = 1\n",
            "server.listen_port",
        ),
        (
            "batch_size = 20000",
            "batch_size = \"many\"",
            "ingest.batch_size",
        ),
        ("max_body_mb = 16", "max_body_mb = 0", "server.max_body_mb"),
    ] {
        let err = error_of(&edited(from, to));
        assert!(err.contains(key), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }
}

/// `[masking]` names attributes and policies; a wrong one is named. `[audit]` keeps a day.
#[test]
fn masking_and_audit_settings_are_checked() {
    let err = error_of(&edited("phone = \"last4\"", "fone = \"last4\""));
    assert!(
        err.contains("masking.fone") && err.contains("no attribute"),
        "{err}"
    );
    let err = error_of(&edited("phone = \"last4\"", "phone = \"last5\""));
    assert!(
        err.contains("masking.phone") && err.contains("last4"),
        "{err}"
    );
    let err = error_of(&edited("retention_days = 365", "retention_days = 0"));
    assert!(err.contains("audit.retention_days"), "{err}");
    let c = Config::parse(&edited("phone = \"last4\"", "phone = \"none\"")).unwrap();
    let phone = c.attributes.iter().position(|a| a.name == "phone").unwrap();
    assert_eq!(c.masks[phone], goldrec::masking::Mask::None);
}
