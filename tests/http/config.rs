//! Configuration errors name the offending key.

use goldrec::config::Config;

use crate::helpers::root;

fn bundled() -> String {
    std::fs::read_to_string(root().join("config/goldrec.toml")).unwrap()
}

#[test]
fn bundled_configs_are_valid() {
    Config::parse(&bundled()).unwrap();
    Config::load(&root().join("config/febrl.toml")).unwrap();
}

#[test]
fn unknown_keys_are_errors() {
    let text = bundled().replace("[server]\n", "[server]\nlisten_port = 1\n");
    let err = Config::parse(&text).unwrap_err().to_string();
    assert!(err.contains("listen_port"), "{err}");
}

#[test]
fn cross_field_rules_name_the_key() {
    let text = bundled().replace("review_threshold = 0.5", "review_threshold = 0.99");
    let err = Config::parse(&text).unwrap_err().to_string();
    assert!(err.contains("matching.review_threshold"), "{err}");

    let text = bundled().replace("company = \"employer\"", "compny = \"employer\"");
    let err = Config::parse(&text).unwrap_err().to_string();
    assert!(err.contains("sources.crm.fields.compny"), "{err}");

    let text = bundled().replace("name = \"source_priority\"", "name = \"loudest\"");
    let err = Config::parse(&text).unwrap_err().to_string();
    assert!(err.contains("survivorship.rules.name"), "{err}");
}
