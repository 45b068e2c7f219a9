-- A listing's terms beyond its title and processes (psn_api::ListingDetails as JSON: lifecycle,
-- service type, who may apply, classification, contact, price, onboarding terms, areas served).
-- Listings published before this migration read as '{}', every field at its default.
ALTER TABLE services ADD COLUMN details TEXT NOT NULL DEFAULT '{}';
