//! The index's schema and how a [`Listing`] becomes a document.

use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, STORED, STRING, TEXT,
};
use tantivy::TantivyDocument;

use crate::model::{Facet, Listing};

/// Names of the non-facet fields (facet fields are named by [`Facet::name`]).
pub const SERVICE: &str = "service";
const TITLE: &str = "title";
const DESCRIPTION: &str = "description";
const PROCESS_TEXT: &str = "process_text";
const PROVIDER_NAME: &str = "provider_name";
const ALL_TEXT: &str = "all_text";
/// Fast fields for sorting.
pub const AVAILABILITY_SORT: &str = "availability_sort";
pub const CALLS_PER_DAY: &str = "calls_per_day";
pub const PUBLISHED_AT: &str = "published_at";

/// Sort value of an unmeasured availability: below every measured one.
const UNMEASURED: f64 = -1.0;

/// The fields, resolved once.
#[derive(Debug, Clone)]
pub struct Fields {
    pub service: Field,
    pub title: Field,
    pub description: Field,
    pub process_text: Field,
    pub provider_name: Field,
    /// Every text field's words together, without frequencies or positions: prefix and typo
    /// matching expand a word against one dictionary instead of four.
    pub all_text: Field,
    /// One per [`Facet::ALL`], in that order: raw strings, indexed (process ids are searched)
    /// and fast (counted and filtered column-wise by the collector).
    pub facets: [Field; Facet::ALL.len()],
    pub availability_sort: Field,
    pub calls_per_day: Field,
    pub published_at: Field,
}

/// The schema. Title and description are stored for snippets; the service id is stored for
/// hits and indexed raw so that an update deletes the previous version by it.
pub fn build() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let service = builder.add_text_field(SERVICE, STRING | STORED);
    let title = builder.add_text_field(TITLE, TEXT | STORED);
    let description = builder.add_text_field(DESCRIPTION, TEXT | STORED);
    let process_text = builder.add_text_field(PROCESS_TEXT, TEXT);
    let provider_name = builder.add_text_field(PROVIDER_NAME, TEXT);
    let all_text = builder.add_text_field(
        ALL_TEXT,
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("default")
                .set_fieldnorms(false)
                .set_index_option(IndexRecordOption::Basic),
        ),
    );
    let facets = Facet::ALL.map(|facet| builder.add_text_field(facet.name(), STRING | FAST));
    let availability_sort = builder.add_f64_field(AVAILABILITY_SORT, FAST);
    let calls_per_day = builder.add_u64_field(CALLS_PER_DAY, FAST);
    let published_at = builder.add_i64_field(PUBLISHED_AT, FAST);
    let fields = Fields {
        service,
        title,
        description,
        process_text,
        provider_name,
        all_text,
        facets,
        availability_sort,
        calls_per_day,
        published_at,
    };
    (builder.build(), fields)
}

/// The document of a listing.
pub fn document(fields: &Fields, listing: &Listing) -> TantivyDocument {
    let mut doc = TantivyDocument::new();
    doc.add_text(fields.service, &listing.service);
    doc.add_text(fields.title, &listing.title);
    doc.add_text(fields.description, &listing.description);
    for process in &listing.processes {
        doc.add_text(fields.process_text, &process.label);
    }
    doc.add_text(fields.provider_name, &listing.provider_name);
    for text in [&listing.title, &listing.description, &listing.provider_name]
        .into_iter()
        .chain(listing.processes.iter().map(|p| &p.label))
    {
        doc.add_text(fields.all_text, text);
    }
    for (facet, field) in Facet::ALL.into_iter().zip(fields.facets) {
        for value in facet.values(listing) {
            doc.add_text(field, &value);
        }
    }
    let availability = listing
        .availability_percent
        .filter(|p| p.is_finite())
        .unwrap_or(UNMEASURED);
    doc.add_f64(fields.availability_sort, availability);
    doc.add_u64(fields.calls_per_day, listing.calls_per_day);
    doc.add_i64(fields.published_at, listing.published_at);
    doc
}
