"""What leaves SeedScope: charts, the HTML report, the data bundle."""
