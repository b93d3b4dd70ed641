//! Building the S3 client the whole program uses, from an SDK configuration and the
//! manifest's endpoint settings.

use aws_config::SdkConfig;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};

/// What the manifest says about reaching S3, beyond credentials and region.
#[derive(Debug, Clone, Default)]
pub struct ClientSettings {
    /// An S3-compatible endpoint instead of AWS.
    pub endpoint_url: Option<String>,
    /// Path-style addressing; defaults to on when an endpoint is given.
    pub force_path_style: Option<bool>,
}

/// An S3 client for `config`. Checksums are sent only where `release` asks for them
/// explicitly (each upload carries its own full-object CRC64NVME), which also keeps
/// S3-compatible stores that reject the SDK's default trailing checksums working.
pub fn client(config: &SdkConfig, settings: &ClientSettings) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(config)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenSupported);
    if let Some(endpoint) = &settings.endpoint_url {
        builder = builder.endpoint_url(endpoint);
    }
    let path_style = settings.force_path_style.unwrap_or(settings.endpoint_url.is_some());
    builder = builder.force_path_style(path_style);
    aws_sdk_s3::Client::from_conf(builder.build())
}
