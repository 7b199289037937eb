//! Throwaway certificates for TLS scenarios: one CA and a certificate per name,
//! ECDSA P-256, written as PEM files into a directory of the caller's.
//!
//! Nothing here is secret or kept: each run makes new keys. The CA signs every
//! name's certificate; a client trusts the CA file ([`TestCerts::ca_cert`]) and
//! a server is given the name files.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};

/// The PEM files of one server name.
#[derive(Debug, Clone)]
pub struct NamedCert {
    /// The DNS name (or IP address) the certificate is for.
    pub name: String,
    /// `NAME.pem`: the certificate, then the CA's (a full chain).
    pub cert: PathBuf,
    /// `NAME.key`: its PKCS#8 private key.
    pub key: PathBuf,
}

/// A throwaway CA and the certificates it signed.
#[derive(Debug, Clone)]
pub struct TestCerts {
    /// `ca.pem`: the CA certificate, for the client's roots.
    pub ca_cert: PathBuf,
    /// One entry per name asked for, in order.
    pub names: Vec<NamedCert>,
}

impl TestCerts {
    /// Generates a CA and one certificate per name of `names` into `dir`
    /// (created if missing). Each certificate holds exactly its own name, so a
    /// client can tell which one a server chose by SNI.
    ///
    /// # Errors
    /// When a name is not a valid DNS name or IP address, or a file cannot be written.
    pub fn generate(dir: &Path, names: &[&str]) -> Result<TestCerts, String> {
        fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let ca_key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| format!("CA key: {e}"))?;
        let mut ca_params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| format!("CA: {e}"))?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "httpd xtask throwaway CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .map_err(|e| format!("CA certificate: {e}"))?;
        let ca_pem = ca_cert.pem();
        let issuer = Issuer::new(ca_params, ca_key);
        let write = |file: &str, text: &str| -> Result<PathBuf, String> {
            let path = dir.join(file);
            fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
            Ok(path)
        };
        let mut certs = TestCerts {
            ca_cert: write("ca.pem", &ca_pem)?,
            names: Vec::new(),
        };
        for name in names {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
                .map_err(|e| format!("key of {name}: {e}"))?;
            let mut params = CertificateParams::new(vec![name.to_string()])
                .map_err(|e| format!("{name}: {e}"))?;
            params.distinguished_name.push(DnType::CommonName, *name);
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            // A short, current validity like a real certificate's (testssl rates
            // rcgen's default of centuries as a problem): yesterday to 90 days ahead.
            let today = days_since_epoch();
            let (y, m, d) = civil_date(today - 1);
            params.not_before = rcgen::date_time_ymd(y, m, d);
            let (y, m, d) = civil_date(today + 90);
            params.not_after = rcgen::date_time_ymd(y, m, d);
            let cert = params
                .signed_by(&key, &issuer)
                .map_err(|e| format!("certificate of {name}: {e}"))?;
            certs.names.push(NamedCert {
                name: name.to_string(),
                cert: write(&format!("{name}.pem"), &format!("{}{ca_pem}", cert.pem()))?,
                key: write(&format!("{name}.key"), &key.serialize_pem())?,
            });
        }
        Ok(certs)
    }
}

/// Whole days since 1970-01-01 (UTC), now.
fn days_since_epoch() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(secs / 86_400).unwrap_or(0)
}

/// The proleptic Gregorian date of day `days` since 1970-01-01 (the inverse of the
/// usual days-from-civil count: 400-year eras of 146,097 days, years from March).
fn civil_date(days: i64) -> (i32, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        i32::try_from(year).unwrap_or(1970),
        u8::try_from(month).unwrap_or(1),
        u8::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod date_tests {
    use super::civil_date;

    #[test]
    fn civil_dates_of_known_days() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(59), (1970, 3, 1));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(20_426), (2025, 12, 4));
        assert_eq!(civil_date(-1), (1969, 12, 31));
    }
}
