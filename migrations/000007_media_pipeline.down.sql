DROP FUNCTION mg_blob_referenced(text);
DROP TABLE captions;
DROP TABLE derivatives;
DROP TABLE blob_info;
