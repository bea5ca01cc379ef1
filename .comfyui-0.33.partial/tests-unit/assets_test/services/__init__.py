# Service layer tests
