-- The demo shop: text keys (UUIDv7-style), so rows made on different nodes
-- never collide.
CREATE TABLE product (
  id    TEXT PRIMARY KEY,
  name  TEXT NOT NULL,
  price REAL NOT NULL,
  photo BLOB
);
CREATE TABLE stock (
  product_id TEXT NOT NULL REFERENCES product(id),
  shop       TEXT NOT NULL,
  quantity   INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (product_id, shop)
) WITHOUT ROWID;
INSERT INTO product VALUES
  ('01936f8e-0a1b-7c3d-8e4f-5a6b7c8d9e01', 'Espresso beans 1 kg', 24.5, x'89504e47'),
  ('01936f8e-0a1b-7c3d-8e4f-5a6b7c8d9e02', 'Milk jug', 12.0, NULL);
INSERT INTO stock VALUES
  ('01936f8e-0a1b-7c3d-8e4f-5a6b7c8d9e01', 'harbour', 10),
  ('01936f8e-0a1b-7c3d-8e4f-5a6b7c8d9e02', 'harbour', 4);
