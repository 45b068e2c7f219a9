//! Providers' OpenAPI documents (docs/catalogue.md "OpenAPI documents"): one per listed service,
//! stored as the exact text uploaded so that its SHA-256 is the digest of what readers fetch.
//! The caller validates a document first (`crate::openapi_check`); here every change is one
//! transaction with its event in the audit trail. Documents are not part of the signed
//! configuration, so the registry generation does not move.

use super::{event, from_i64, from_millis, parse, require_service, to_i64, to_millis};
use super::{Result, Store, StoreError};
use psn_api::ServiceDocumentInfo;
use psn_core::names::ServiceId;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// A stored document with what the catalogue says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    /// Digest, size and upload time.
    pub info: ServiceDocumentInfo,
    /// The text as uploaded.
    pub document: String,
}

/// SHA-256 of `bytes` as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn info_from_row(row: &AnyRow) -> Result<ServiceDocumentInfo> {
    Ok(ServiceDocumentInfo {
        sha256: row.try_get("sha256")?,
        bytes: from_i64("document size", row.try_get("bytes")?)?,
        uploaded_at: from_millis(row.try_get("uploaded_at")?),
    })
}

impl Store {
    /// Keeps `document` (already validated) as the OpenAPI document of `service`, replacing
    /// any held. `NotFound`, changing nothing, if the service is not listed.
    pub async fn put_document(
        &self,
        actor: &str,
        service: &ServiceId,
        document: &str,
    ) -> Result<ServiceDocumentInfo> {
        let info = ServiceDocumentInfo {
            sha256: sha256_hex(document.as_bytes()),
            bytes: document.len() as u64,
            uploaded_at: from_millis(to_millis(OffsetDateTime::now_utc())),
        };
        let (_g, mut tx) = self.begin().await?;
        require_service(&mut tx, service).await?;
        sqlx::query("DELETE FROM service_documents WHERE service_id = $1")
            .bind(service.to_string())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO service_documents (service_id, sha256, bytes, document, uploaded_at, uploaded_by) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(service.to_string())
        .bind(&info.sha256)
        .bind(to_i64("document size", info.bytes)?)
        .bind(document)
        .bind(to_millis(info.uploaded_at))
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        event(
            &mut tx,
            actor,
            "service.openapi.put",
            &service.to_string(),
            serde_json::json!({ "sha256": info.sha256, "bytes": info.bytes }),
        )
        .await?;
        tx.commit().await?;
        Ok(info)
    }

    /// Removes the OpenAPI document of `service`. `NotFound`, changing nothing, if it has none.
    pub async fn remove_document(&self, actor: &str, service: &ServiceId) -> Result<()> {
        let (_g, mut tx) = self.begin().await?;
        let removed = sqlx::query("DELETE FROM service_documents WHERE service_id = $1")
            .bind(service.to_string())
            .execute(&mut *tx)
            .await?;
        if removed.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!(
                "{service} has no OpenAPI document"
            )));
        }
        event(
            &mut tx,
            actor,
            "service.openapi.remove",
            &service.to_string(),
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The OpenAPI document of `service`, if it has one.
    pub async fn document(&self, service: &ServiceId) -> Result<Option<StoredDocument>> {
        let row = sqlx::query(
            "SELECT sha256, bytes, uploaded_at, document FROM service_documents WHERE service_id = $1",
        )
        .bind(service.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(StoredDocument {
                info: info_from_row(&r)?,
                document: r.try_get("document")?,
            })
        })
        .transpose()
    }

    /// What the catalogue says about `service`'s document, without reading the document.
    pub async fn document_info(&self, service: &ServiceId) -> Result<Option<ServiceDocumentInfo>> {
        let row = sqlx::query(
            "SELECT sha256, bytes, uploaded_at FROM service_documents WHERE service_id = $1",
        )
        .bind(service.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(info_from_row).transpose()
    }

    /// Every service's document facts, by service id (for the catalogue export).
    pub async fn document_infos(&self) -> Result<BTreeMap<ServiceId, ServiceDocumentInfo>> {
        let rows =
            sqlx::query("SELECT service_id, sha256, bytes, uploaded_at FROM service_documents")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                let id = parse("service id", &r.try_get::<String, _>("service_id")?)?;
                Ok((id, info_from_row(r)?))
            })
            .collect()
    }

    /// When each listing was first published and last changed, by service id (ms).
    pub async fn service_times(&self) -> Result<BTreeMap<ServiceId, (i64, i64)>> {
        let rows = sqlx::query("SELECT id, created_at, updated_at FROM services")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let id = parse("service id", &r.try_get::<String, _>("id")?)?;
                Ok((id, (r.try_get("created_at")?, r.try_get("updated_at")?)))
            })
            .collect()
    }

    /// When the registry last changed (its newest audit-trail event), if ever.
    pub async fn last_change(&self) -> Result<Option<OffsetDateTime>> {
        let at: Option<i64> = sqlx::query_scalar("SELECT MAX(at) FROM admin_events")
            .fetch_one(&self.pool)
            .await?;
        Ok(at.map(from_millis))
    }
}
