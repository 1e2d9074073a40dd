//! [`Remote`] over the real OSS client: the engine's multipart calls mapped one to one onto
//! [`OssClient`] methods. No logic lives here beyond translating types.

use bytes::Bytes;

use super::remote::{ListedPart, ObjectReceipt, PartReceipt, Remote, RemoteError};
use bak2rds_cloud::oss::OssClient;
use bak2rds_cloud::oss::error::OssError;
use bak2rds_cloud::oss::types::{CompletedPart, WriteOutput};

impl RemoteError for OssError {
    fn is_retryable(&self) -> bool {
        OssError::is_retryable(self)
    }
}

fn receipt(output: WriteOutput, size: Option<u64>) -> ObjectReceipt {
    ObjectReceipt {
        size,
        etag: output.etag,
        crc64: output.crc64,
    }
}

impl Remote for OssClient {
    type Error = OssError;

    /// `scheme://host[:port]`: the bucket is the target's own field.
    fn endpoint(&self) -> String {
        let endpoint = self.endpoint();
        let scheme = if endpoint.is_https() { "https" } else { "http" };
        format!("{scheme}://{}", endpoint.authority())
    }

    /// Up to this version the bucket's URL with the bucket appended again
    /// (`http://127.0.0.1:PORT/bucket//bucket`).
    fn legacy_endpoint(&self) -> Option<String> {
        Some(format!(
            "{}/{}",
            self.endpoint().url(None, ""),
            self.bucket()
        ))
    }

    async fn list_uploads(&self, key: &str) -> Result<Vec<String>, OssError> {
        Ok(self
            .list_multipart_uploads(Some(key))
            .await?
            .into_iter()
            .filter(|upload| upload.key == key)
            .map(|upload| upload.upload_id)
            .collect())
    }

    async fn initiate(&self, key: &str) -> Result<String, OssError> {
        self.initiate_multipart_upload(key).await
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: reqwest::Body,
        len: u64,
        content_md5: Option<String>,
    ) -> Result<PartReceipt, OssError> {
        let output = OssClient::upload_part(
            self,
            key,
            upload_id,
            part_number,
            body,
            len,
            content_md5.as_deref(),
        )
        .await?;
        Ok(PartReceipt {
            etag: output.etag,
            crc64: output.crc64,
        })
    }

    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<(u32, String)>,
    ) -> Result<ObjectReceipt, OssError> {
        let parts: Vec<CompletedPart> = parts
            .into_iter()
            .map(|(part_number, etag)| CompletedPart { part_number, etag })
            .collect();
        let output = self
            .complete_multipart_upload(key, upload_id, &parts)
            .await?;
        // Complete does not return the size; HEAD, which the engine calls next, confirms it.
        Ok(receipt(output, None))
    }

    async fn abort(&self, key: &str, upload_id: &str) -> Result<(), OssError> {
        self.abort_multipart_upload(key, upload_id).await
    }

    async fn list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Option<Vec<ListedPart>>, OssError> {
        match OssClient::list_parts(self, key, upload_id).await {
            Ok(parts) => Ok(Some(
                parts
                    .into_iter()
                    .map(|part| ListedPart {
                        part_number: part.part_number,
                        etag: part.etag,
                        size: part.size,
                        crc64: part.crc64,
                    })
                    .collect(),
            )),
            Err(error) if error.code() == Some("NoSuchUpload") => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectReceipt>, OssError> {
        Ok(self.head_object(key).await?.map(|meta| ObjectReceipt {
            size: Some(meta.size),
            etag: meta.etag.unwrap_or_default(),
            crc64: meta.crc64,
        }))
    }

    async fn put(&self, key: &str, body: Bytes) -> Result<ObjectReceipt, OssError> {
        let size = body.len() as u64;
        let output = self.put_object(key, body, None).await?;
        Ok(receipt(output, Some(size)))
    }

    async fn delete(&self, key: &str) -> Result<(), OssError> {
        self.delete_object(key).await
    }
}
