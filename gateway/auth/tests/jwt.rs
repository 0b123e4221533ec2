//! JWT verification with keys generated in the test: HS256, RS256 (openssl) and ES256 (rcgen).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use switchboard_auth::{JwtVerifier, LoadError};
use switchboard_config::{JwtConfig, Secret};
use switchboard_fabric::AuthError;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-jwt-{}-{name}-{}",
        std::process::id(),
        now()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn hs256(secret: &str) -> JwtConfig {
    JwtConfig {
        secret: Some(Secret::new(secret)),
        ..JwtConfig::default()
    }
}

fn verifier(config: &JwtConfig) -> JwtVerifier {
    match JwtVerifier::from_config(config) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).unwrap()
}

fn hs(secret: &str, claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(secret.as_bytes()),
        claims,
    )
}

fn invalid(result: Result<switchboard_auth::TokenClaims, AuthError>) -> String {
    match result {
        Err(AuthError::InvalidToken(m)) => m,
        other => panic!("expected an invalid token, got {other:?}"),
    }
}

#[test]
fn hs256_user_and_topics() {
    let v = verifier(&JwtConfig {
        topics_claim: Some("topics".into()),
        ..hs256("s3cret")
    });
    let t = hs(
        "s3cret",
        &json!({"sub": "browser-7", "exp": now() + 600, "topics": ["dash/#", "cmd/+/in"]}),
    );
    let c = v.verify(&t).unwrap();
    assert_eq!(c.user, "browser-7");
    let topics = c.topics.unwrap();
    let topics: Vec<&str> = topics.iter().map(|f| f.as_str()).collect();
    assert_eq!(topics, ["dash/#", "cmd/+/in"]);

    // A scope-like string works too; a token without the claim is limited by the ACL alone.
    let t = hs(
        "s3cret",
        &json!({"sub": "u", "exp": now() + 600, "topics": "a/# b"}),
    );
    assert_eq!(v.verify(&t).unwrap().topics.unwrap().len(), 2);
    let t = hs("s3cret", &json!({"sub": "u", "exp": now() + 600}));
    assert_eq!(v.verify(&t).unwrap().topics, None);
}

#[test]
fn hs256_rejections_say_why() {
    let v = verifier(&JwtConfig {
        topics_claim: Some("topics".into()),
        ..hs256("s3cret")
    });
    let cases = [
        (
            hs("other", &json!({"sub": "u", "exp": now() + 600})),
            "signature",
        ),
        (
            hs("s3cret", &json!({"sub": "u", "exp": now() - 3600})),
            "expired",
        ),
        (hs("s3cret", &json!({"sub": "u"})), "claim `exp` is missing"),
        (
            hs(
                "s3cret",
                &json!({"sub": "u", "exp": now() + 600, "nbf": now() + 3600}),
            ),
            "not valid yet",
        ),
        (
            hs("s3cret", &json!({"exp": now() + 600})),
            "claim `sub` is missing",
        ),
        (
            hs("s3cret", &json!({"sub": "", "exp": now() + 600})),
            "non-empty string",
        ),
        (
            hs("s3cret", &json!({"sub": 7, "exp": now() + 600})),
            "non-empty string",
        ),
        (
            hs(
                "s3cret",
                &json!({"sub": "u", "exp": now() + 600, "topics": ["a/#/b"]}),
            ),
            "not a filter",
        ),
        (
            hs(
                "s3cret",
                &json!({"sub": "u", "exp": now() + 600, "topics": {"a": 1}}),
            ),
            "list of topic filters",
        ),
        ("not.a.token".to_owned(), "malformed"),
        ("x".repeat(20_000), "longer than"),
    ];
    for (token, needle) in cases {
        let m = invalid(v.verify(&token));
        assert!(m.contains(needle), "{needle}: {m}");
    }
    // Within the 60 s leeway, a just-expired token still passes.
    let t = hs("s3cret", &json!({"sub": "u", "exp": now() - 5}));
    assert!(v.verify(&t).is_ok());
}

#[test]
fn audience_and_issuer_are_required_when_configured() {
    let v = verifier(&JwtConfig {
        audience: Some("switchboard".into()),
        issuer: Some("https://auth.example/".into()),
        user_claim: "preferred_username".into(),
        ..hs256("k")
    });
    let good = json!({"preferred_username": "ann", "exp": now() + 60,
        "aud": "switchboard", "iss": "https://auth.example/"});
    assert_eq!(v.verify(&hs("k", &good)).unwrap().user, "ann");
    let mut list_aud = good.clone();
    list_aud["aud"] = json!(["other", "switchboard"]);
    assert!(v.verify(&hs("k", &list_aud)).is_ok());
    for (field, value, needle) in [
        ("aud", json!("elsewhere"), "audience"),
        ("iss", json!("https://evil.example/"), "issuer"),
    ] {
        let mut c = good.clone();
        c[field] = value;
        assert!(invalid(v.verify(&hs("k", &c))).contains(needle));
    }
    for field in ["aud", "iss"] {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(field);
        let m = invalid(v.verify(&hs("k", &c)));
        assert!(m.contains(&format!("claim `{field}` is missing")), "{m}");
    }
    // Without `audience`, a token naming one is still accepted.
    let open = verifier(&hs256("k"));
    assert!(
        open.verify(&hs("k", &good)).is_err(),
        "user claim is `sub` here"
    );
    let mut with_sub = good;
    with_sub["sub"] = json!("ann");
    assert!(open.verify(&hs("k", &with_sub)).is_ok());
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("openssl is missing ({e}): run `make deps`"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rsa_key_pair(dir: &Path) -> (Vec<u8>, PathBuf) {
    let private = dir.join("rsa.pem");
    let public = dir.join("rsa.pub.pem");
    let (p, q) = (private.to_str().unwrap(), public.to_str().unwrap());
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        p,
    ]);
    openssl(&["pkey", "-in", p, "-pubout", "-out", q]);
    (std::fs::read(&private).unwrap(), public)
}

fn ec_key_pair(dir: &Path) -> (Vec<u8>, PathBuf) {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let public = dir.join("ec.pub.pem");
    std::fs::write(&public, kp.public_key_pem()).unwrap();
    (kp.serialize_pem().into_bytes(), public)
}

fn keyed(algorithm: &str, public: &Path) -> JwtConfig {
    JwtConfig {
        algorithm: algorithm.into(),
        public_key_file: Some(public.to_owned()),
        ..JwtConfig::default()
    }
}

#[test]
fn rs256_with_a_generated_key() {
    let dir = scratch("rs256");
    let (private, public) = rsa_key_pair(&dir);
    let v = verifier(&keyed("RS256", &public));
    let key = EncodingKey::from_rsa_pem(&private).unwrap();
    let t = sign(
        Algorithm::RS256,
        &key,
        &json!({"sub": "r", "exp": now() + 60}),
    );
    assert_eq!(v.verify(&t).unwrap().user, "r");
    // An HS256 token signed with the public key text must not pass (algorithm confusion).
    let pem = std::fs::read_to_string(&public).unwrap();
    let forged = hs(&pem, &json!({"sub": "r", "exp": now() + 60}));
    assert!(invalid(v.verify(&forged)).contains("algorithm"));
    // Another key's signature fails.
    let (other, _) = rsa_key_pair(&scratch("rs256-other"));
    let t = sign(
        Algorithm::RS256,
        &EncodingKey::from_rsa_pem(&other).unwrap(),
        &json!({"sub": "r", "exp": now() + 60}),
    );
    assert!(invalid(v.verify(&t)).contains("signature"));
}

#[test]
fn es256_with_a_generated_key() {
    let dir = scratch("es256");
    let (private, public) = ec_key_pair(&dir);
    let v = verifier(&keyed("ES256", &public));
    let key = EncodingKey::from_ec_pem(&private).unwrap();
    let t = sign(
        Algorithm::ES256,
        &key,
        &json!({"sub": "e", "exp": now() + 60}),
    );
    assert_eq!(v.verify(&t).unwrap().user, "e");
    let (other, _) = ec_key_pair(&scratch("es256-other"));
    let t = sign(
        Algorithm::ES256,
        &EncodingKey::from_ec_pem(&other).unwrap(),
        &json!({"sub": "e", "exp": now() + 60}),
    );
    assert!(invalid(v.verify(&t)).contains("signature"));
}

#[test]
fn unusable_keys_are_load_errors_naming_the_key() {
    let dir = scratch("badkeys");
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a key").unwrap();
    let (_, ec_public) = ec_key_pair(&dir);
    for (config, key, needle) in [
        (
            keyed("RS256", &junk),
            "auth.jwt.public_key_file",
            "not a PEM RSA public key",
        ),
        (
            keyed("ES256", &junk),
            "auth.jwt.public_key_file",
            "not a PEM P-256 EC",
        ),
        (
            keyed("RS256", &dir.join("absent.pem")),
            "auth.jwt.public_key_file",
            "cannot read",
        ),
        (
            keyed("HS512", &ec_public),
            "auth.jwt.algorithm",
            "not supported",
        ),
        (JwtConfig::default(), "auth.jwt.secret", "needed for HS256"),
    ] {
        let e: LoadError = JwtVerifier::from_config(&config).unwrap_err();
        assert_eq!(e.key(), key, "{e}");
        assert!(e.to_string().contains(needle), "{e}");
    }
}
