-- A refused state move raises our own SQLSTATE, TRT01 (class "TR" is not one PostgreSQL
-- uses), with the job, its state and the refused target as JSON in DETAIL: the store
-- recognises it by code, not by reading the message. Same function otherwise as in 0001;
-- the triggers that call it stay as they are.
CREATE OR REPLACE FUNCTION trt_job_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.state <> 'created' THEN
            RAISE EXCEPTION 'illegal transition: new job in state %', NEW.state;
        END IF;
        RETURN NEW;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM job_transitions
                   WHERE from_state = OLD.state AND to_state = NEW.state) THEN
        RAISE EXCEPTION 'illegal transition: job % from % to %', OLD.id, OLD.state, NEW.state
            USING ERRCODE = 'TRT01',
                  DETAIL = json_build_object('job_id', OLD.id, 'from', OLD.state,
                                             'to', NEW.state)::text;
    END IF;
    NEW.updated_at := now();
    IF NEW.state IN ('delivered', 'failed') THEN
        NEW.finished_at := now();
    END IF;
    RETURN NEW;
END $$;
