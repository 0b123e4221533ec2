//! Client-side checks of topics and filters, so that a typo is a usage error (exit 64) rather
//! than a refusal from the gateway. MQTT's rules apply to MQTT and Engine.IO; an IPC channel is
//! a literal name (any non-empty string).

use crate::url::Protocol;

/// The longest topic MQTT can carry (a UTF-8 string with a u16 length).
const MAX_TOPIC: usize = 65_535;

fn common(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("the topic is empty".into());
    }
    if s.len() > MAX_TOPIC {
        return Err(format!("the topic is longer than {MAX_TOPIC} bytes"));
    }
    if s.contains('\0') {
        return Err("the topic contains a NUL character".into());
    }
    Ok(())
}

/// Checks a topic to publish to.
pub fn check_topic(protocol: Protocol, topic: &str) -> Result<(), String> {
    common(topic)?;
    if protocol != Protocol::Ipc && topic.contains(['+', '#']) {
        return Err(format!(
            "`{topic}` contains a wildcard (+ or #); publish to a topic name"
        ));
    }
    Ok(())
}

/// Checks a filter to subscribe to.
pub fn check_filter(protocol: Protocol, filter: &str) -> Result<(), String> {
    common(filter)?;
    if protocol == Protocol::Ipc {
        return Ok(());
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return Err(format!(
                "`{filter}`: # must be a whole level and the last one"
            ));
        }
        if level.contains('+') && *level != "+" {
            return Err(format!("`{filter}`: + must be a whole level"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_rules() {
        for ok in ["a", "a/b", "+", "#", "a/+/c", "a/#", "+/+", "$SYS/#", "/"] {
            assert_eq!(check_filter(Protocol::Mqtt, ok), Ok(()), "{ok}");
        }
        for bad in ["", "a/#/b", "a#", "a+/b", "a/b+", "##"] {
            assert!(check_filter(Protocol::EngineIo, bad).is_err(), "{bad}");
        }
        assert!(check_topic(Protocol::Mqtt, "a/+").is_err());
        assert!(check_topic(Protocol::Mqtt, "").is_err());
        assert!(check_topic(Protocol::Mqtt, "a\0b").is_err());
        assert_eq!(check_topic(Protocol::Ipc, "a/+"), Ok(()));
        assert_eq!(check_filter(Protocol::Ipc, "a#/+b"), Ok(()));
    }
}
