//! Gateway settings for tests, shared by every test binary: defaults, then per-test overrides,
//! read through the same `Settings::from_lookup` the environment goes through.

use std::collections::HashMap;

use procgate::config::Settings;

pub fn settings_from(defaults: &[(&str, &str)], overrides: &[(&str, &str)]) -> Settings {
    let env: HashMap<String, String> =
        defaults.iter().chain(overrides).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Settings::from_lookup(|k| env.get(k).cloned()).expect("valid test settings")
}
