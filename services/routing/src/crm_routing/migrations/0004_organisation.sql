-- Lead organisation per instance: its pipeline (ordered stages), its lead sources, saved segments,
-- and each lead's stage, source and tags.
CREATE TABLE pipeline_stages (
    instance_id text NOT NULL,
    stage_id    text NOT NULL,
    name        text NOT NULL,
    position    int  NOT NULL,
    PRIMARY KEY (instance_id, stage_id)
);
CREATE INDEX pipeline_stages_order ON pipeline_stages (instance_id, position);

CREATE TABLE lead_sources (
    instance_id text NOT NULL,
    source      text NOT NULL,
    position    int  NOT NULL,
    PRIMARY KEY (instance_id, source)
);

CREATE TABLE segments (
    instance_id text NOT NULL,
    segment_id  text NOT NULL,
    name        text NOT NULL,
    filter      jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, segment_id)
);

ALTER TABLE leads ADD COLUMN stage_id text,
                  ADD COLUMN source   text,
                  ADD COLUMN tags     text[] NOT NULL DEFAULT '{}';
CREATE INDEX leads_instance_stage ON leads (instance_id, stage_id);
CREATE INDEX leads_tags ON leads USING gin (tags);

-- Whether the member administers their account (identity's `administers_account`): on the
-- Enterprise instance, account admins organise leads like its owner.
ALTER TABLE statuses ADD COLUMN administers boolean NOT NULL DEFAULT false;

-- Instances and leads that exist already get the defaults new ones get.
INSERT INTO pipeline_stages (instance_id, stage_id, name, position)
SELECT i.instance_id, s.stage_id, s.name, s.position FROM instances i,
       (VALUES ('new', 'New', 1), ('contacted', 'Contacted', 2), ('appointment', 'Appointment', 3),
               ('under_contract', 'Under contract', 4), ('closed', 'Closed', 5), ('lost', 'Lost', 6))
       AS s (stage_id, name, position)
ON CONFLICT DO NOTHING;
INSERT INTO lead_sources (instance_id, source, position)
SELECT i.instance_id, s.source, s.position FROM instances i,
       (VALUES ('website', 1), ('zillow', 2), ('parsing_email', 3), ('open_api', 4), ('manual', 5))
       AS s (source, position)
ON CONFLICT DO NOTHING;
UPDATE leads SET stage_id = 'new', source = channel,
                 tags = ARRAY(SELECT jsonb_array_elements_text(coalesce(lead -> 'tags', '[]'::jsonb)));
