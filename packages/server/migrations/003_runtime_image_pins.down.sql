DROP TABLE IF EXISTS runtime_image_pins;
