"""Datasets: built-ins load offline with the right shapes; CSV loading encodes, imputes and rejects with advice."""
import io

import numpy as np
import pytest
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from core.training.data import BUILTIN_DATASETS, BUILTIN_SHAPES, MAX_CLASSES, load_builtin, load_csv, synthetic
from core.errors import DatasetError


def upload(text: str | bytes, name: str = "upload.csv") -> io.BytesIO:
    """An in-memory file object with a .name, like the one a browser upload gives."""
    f = io.BytesIO(text.encode() if isinstance(text, str) else text)
    f.name = name
    return f


# --- built-in datasets --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name, n_rows, n_features, n_classes",
    [("iris", 150, 4, 3), ("wine", 178, 13, 3), ("breast_cancer", 569, 30, 2), ("digits", 1797, 64, 10),
     ("synthetic", 600, 10, 2)],
)
def test_builtin_dataset_loads_offline_with_expected_shapes(name, n_rows, n_features, n_classes):
    ds = load_builtin(name)
    assert ds.X.shape == (n_rows, n_features) and ds.X.dtype == np.float64
    assert ds.y.shape == (n_rows,) and ds.y.dtype == np.int64
    assert ds.n_features == len(ds.feature_names) == n_features
    assert ds.n_classes == n_classes
    assert set(np.unique(ds.y)) == set(range(n_classes))
    assert not np.isnan(ds.X).any()


@pytest.mark.parametrize("name", list(BUILTIN_DATASETS))
def test_a_builtin_s_shape_is_what_loading_it_gives(name):
    """Setup shows rows, features, classes and the time estimate from the shape, before scikit-learn loads."""
    shape, ds = BUILTIN_SHAPES[name], load_builtin(name)
    assert (shape.n_rows, shape.n_features, shape.class_names, shape.content_hash, shape.task) == (
        ds.n_rows, ds.n_features, ds.class_names, ds.content_hash, ds.task)
    assert shape.target_std == ds.target_std or np.isnan(shape.target_std) and np.isnan(ds.target_std)
    assert shape.loaded().content_hash == ds.content_hash and ds.loaded() is ds


def test_every_registered_builtin_is_covered_by_the_shape_test():
    assert set(BUILTIN_SHAPES) == set(BUILTIN_DATASETS)
    assert set(BUILTIN_DATASETS) == {"iris", "wine", "breast_cancer", "digits", "synthetic", "diabetes", "friedman1"}


def test_digits_records_8x8_image_shape_and_row_major_pixel_names():
    ds = load_builtin("digits")
    assert ds.image_shape == (8, 8)
    assert ds.n_features == 64
    assert ds.feature_names[0] == "pixel_0_0"
    assert ds.feature_names[9] == "pixel_1_1"  # row-major: index 9 = row 1, column 1
    assert load_builtin("iris").image_shape is None


def test_unknown_builtin_name_raises_dataset_error_listing_choices():
    with pytest.raises(DatasetError, match="Unknown dataset 'mnist'.*iris"):
        load_builtin("mnist")


def test_synthetic_records_informative_indices_and_names_them_signal(synthetic_data):
    informative = synthetic_data.informative
    assert len(informative) == 3 and len(set(informative)) == 3
    assert all(0 <= j < synthetic_data.n_features for j in informative)
    assert informative != (0, 1, 2)  # placed at seeded positions, not simply first
    for j, name in enumerate(synthetic_data.feature_names):
        assert name.startswith("signal_" if j in informative else "noise_")


def test_synthetic_informative_features_predict_the_target_and_noise_features_do_not(synthetic_data):
    # make_classification puts two clusters per class on hypercube corners, so a single informative
    # column need not correlate linearly with y; a k-NN on the columns as a group shows the signal.
    ds = synthetic_data
    informative = list(ds.informative)
    noise = [j for j in range(ds.n_features) if j not in informative]
    knn = KNeighborsClassifier(n_neighbors=15)
    signal_accuracy = cross_val_score(knn, ds.X[:, informative], ds.y, cv=5).mean()
    noise_accuracy = cross_val_score(knn, ds.X[:, noise], ds.y, cv=5).mean()
    assert signal_accuracy > 0.85
    assert noise_accuracy < 0.65


def test_synthetic_is_reproducible_for_a_seed_and_changes_with_it():
    assert load_builtin("synthetic").content_hash == load_builtin("synthetic").content_hash
    assert synthetic(seed=1).content_hash != synthetic(seed=0).content_hash


# --- CSV loading --------------------------------------------------------------------------------

CSV = "height,colour,y\n1.0,red,a\n2.0,blue,b\n3.0,red,a\n4.0,green,b\n"


def test_csv_loads_from_a_path_named_after_the_file(tmp_path):
    path = tmp_path / "plants.csv"
    path.write_text(CSV)
    ds = load_csv(path, "y")
    assert ds.name == "plants.csv"
    assert ds.X.shape == (4, 4)
    assert ds.class_names == ("a", "b")
    np.testing.assert_array_equal(ds.y, [0, 1, 0, 1])


def test_csv_loads_from_a_file_object_named_after_its_name_attribute():
    ds = load_csv(upload(CSV, name="upload.csv"), "y")
    assert ds.name == "upload.csv"
    assert ds.X.shape == (4, 4)
    np.testing.assert_array_equal(ds.X[:, 0], [1.0, 2.0, 3.0, 4.0])


def test_csv_from_path_and_from_file_object_give_equal_content_hash(tmp_path):
    path = tmp_path / "plants.csv"
    path.write_text(CSV)
    assert load_csv(path, "y").content_hash == load_csv(upload(CSV), "y").content_hash


def test_text_columns_are_one_hot_encoded_as_column_equals_value():
    ds = load_csv(upload(CSV), "y")
    assert ds.feature_names == ("height", "colour=blue", "colour=green", "colour=red")
    # rows: red, blue, red, green
    np.testing.assert_array_equal(ds.X[:, 1:], [[0, 0, 1], [1, 0, 0], [0, 0, 1], [0, 1, 0]])


def test_one_hot_names_never_collide_with_a_column_of_the_file():
    ds = load_csv(upload("a,a=x,y\nx,1,0\nz,2,1\nx,3,0\nz,4,1\n"), "y")
    assert len(set(ds.feature_names)) == ds.n_features == 3
    assert ds.feature_names == ("a=x (2)", "a=z", "a=x")
    np.testing.assert_array_equal(ds.X[:, 2], [1, 2, 3, 4])  # the file's own a=x keeps its name
    assert any("'a=x (2)'" in note for note in ds.notes)


@pytest.mark.parametrize("value", ["1e308", "-4e38"])
def test_values_beyond_float32_raise_dataset_error_naming_the_column(value):
    with pytest.raises(DatasetError, match="'big'.*rescale"):
        load_csv(upload(f"big,y\n1,0\n{value},1\n3,0\n4,1\n"), "y")


def test_values_within_float32_train_to_finite_probabilities():
    from core.agree.scores import evaluate
    from core.training.config import MLPConfig, RunConfig
    from core.training.fit import train

    rows = "\n".join(f"{3e38 * (i % 7 - 3) / 3:.6g},{i % 2}" for i in range(40))
    run = train(load_csv(upload("big,y\n" + rows + "\n"), "y"),
                RunConfig(n_models=2, mlp=MLPConfig(hidden=(4,), epochs=2)))
    assert np.isfinite(evaluate(run).proba).all()


def test_missing_text_values_become_their_own_category_with_a_note():
    ds = load_csv(upload("colour,n,y\nred,1,a\n,2,b\nblue,3,a\nred,4,b\n"), "y")
    assert "colour=(missing)" in ds.feature_names
    assert any("missing" in note and "'colour'" in note for note in ds.notes)


def test_missing_numeric_values_are_imputed_with_the_median_and_noted():
    ds = load_csv(upload("a,b,y\n1,10,0\n,20,1\n3,30,0\n5,40,1\n"), "y")
    assert not np.isnan(ds.X).any()
    np.testing.assert_array_equal(ds.X[:, 0], [1.0, 3.0, 3.0, 5.0])  # median of 1, 3, 5 is 3
    assert any("Filled 1 missing values in 'a'" in note for note in ds.notes)


def test_constant_column_is_dropped_with_a_note():
    ds = load_csv(upload("a,k,y\n1,5,0\n2,5,1\n3,5,0\n"), "y")
    assert ds.feature_names == ("a",)
    assert any("Dropped column 'k'" in note for note in ds.notes)


def test_text_column_with_many_distinct_values_is_dropped_as_an_identifier():
    rows = "".join(f"id{i},{i % 3},{i % 2}\n" for i in range(60))
    ds = load_csv(upload("name,a,y\n" + rows), "y")
    assert ds.feature_names == ("a",)
    assert any("'name'" in note and "identifier" in note for note in ds.notes)


def test_rows_with_missing_target_are_dropped_with_a_note():
    ds = load_csv(upload("a,y\n1,x\n2,\n3,z\n4,x\n"), "y")
    assert len(ds.y) == 3
    np.testing.assert_array_equal(ds.X[:, 0], [1.0, 3.0, 4.0])
    assert any("Dropped 1 rows" in note for note in ds.notes)


def test_clean_csv_records_no_notes():
    assert load_csv(upload(CSV), "y").notes == ()


# --- CSV errors ---------------------------------------------------------------------------------

def test_missing_path_raises_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="No file at"):
        load_csv(tmp_path / "absent.csv", "y")


def test_a_latin1_file_is_read_as_windows_1252_with_a_note():
    ds = load_csv(upload("caf\u00e9,y\n1,oui\n2,non\n3,oui\n4,non\n".encode("latin-1")), "y")
    assert ds.feature_names == ("caf\u00e9",)
    assert any("not UTF-8" in note for note in ds.notes)


def test_semicolon_separated_files_are_split_into_their_columns():
    ds = load_csv(upload(b"a;b;y\n1;2;x\n3;4;z\n5;6;x\n7;8;z\n"), "y")
    assert ds.feature_names == ("a", "b")


def test_infinite_values_are_treated_as_missing_with_a_note():
    ds = load_csv(upload(b"a,b,y\n1,inf,x\n2,3,z\n3,-inf,x\n4,5,z\n"), "y")
    assert np.isfinite(ds.X).all()
    assert any("2 infinite values in 'b'" in note for note in ds.notes)


def test_binary_garbage_raises_dataset_error_not_a_parser_crash():
    with pytest.raises(DatasetError, match="could not be read as CSV"):
        load_csv(upload(bytes(range(256)) * 4), "y")


def test_empty_file_raises_dataset_error_saying_it_is_empty():
    with pytest.raises(DatasetError, match="file is empty"):
        load_csv(upload(b""), "y")


def test_header_without_rows_raises_dataset_error():
    with pytest.raises(DatasetError, match="header but no data rows"):
        load_csv(upload("a,b,y\n"), "y")


def test_missing_target_column_raises_dataset_error_listing_the_columns():
    with pytest.raises(DatasetError, match="Target column 'label' is not in the file.*a, b, y"):
        load_csv(upload(CSV.replace("height,colour", "a,b")), "label")


def test_single_class_target_raises_dataset_error():
    with pytest.raises(DatasetError, match="single class \\('x'\\)"):
        load_csv(upload("a,y\n1,x\n2,x\n3,x\n"), "y")


def test_target_with_more_than_max_classes_raises_dataset_error():
    n = MAX_CLASSES + 1
    text = "a,y\n" + "".join(f"{i},c{i}\n" for i in range(n))  # text labels: a numeric one is a regression
    with pytest.raises(DatasetError, match=f"{n} distinct values, more than {MAX_CLASSES} classes.*regression task"):
        load_csv(upload(text), "y")
    numeric = "a,y\n" + "".join(f"{i},{i}\n" for i in range(n))
    assert load_csv(upload(numeric), "y").regression
    with pytest.raises(DatasetError, match="more than 20 classes"):
        load_csv(upload(numeric), "y", task="classification")


def test_target_with_exactly_max_classes_is_accepted():
    text = "a,y\n" + "".join(f"{i},{i}\n" for i in range(MAX_CLASSES))
    assert load_csv(upload(text), "y").n_classes == MAX_CLASSES


def test_no_usable_feature_column_raises_dataset_error():
    with pytest.raises(DatasetError, match="No usable feature columns"):
        load_csv(upload("k,y\n1,0\n1,1\n1,0\n"), "y")


def test_file_over_the_size_limit_raises_dataset_error():
    with pytest.raises(DatasetError, match="over the .* limit"):
        load_csv(upload(CSV), "y", max_bytes=10)


def test_file_over_the_size_limit_from_a_path_raises_dataset_error(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text(CSV)
    with pytest.raises(DatasetError, match="limit"):
        load_csv(path, "y", max_bytes=10)


def test_column_of_only_missing_values_raises_dataset_error_naming_it():
    with pytest.raises(DatasetError, match="'b' hold only missing values"):
        load_csv(upload("a,b,y\n1,,0\n2,,1\n3,,0\n"), "y")


def test_target_with_only_missing_values_raises_dataset_error():
    with pytest.raises(DatasetError, match="has no values"):
        load_csv(upload("a,y\n1,\n2,\n"), "y")


# --- content hash -------------------------------------------------------------------------------

def test_content_hash_is_equal_for_equal_data_whatever_the_file_name():
    assert load_csv(upload(CSV, "one.csv"), "y").content_hash == load_csv(upload(CSV, "two.csv"), "y").content_hash


def test_content_hash_differs_when_a_value_differs():
    changed = CSV.replace("4.0,green", "4.5,green")
    assert load_csv(upload(CSV), "y").content_hash != load_csv(upload(changed), "y").content_hash


def test_content_hash_differs_when_a_label_differs():
    changed = CSV.replace("4.0,green,b", "4.0,green,a")
    assert load_csv(upload(CSV), "y").content_hash != load_csv(upload(changed), "y").content_hash


def test_content_hash_differs_between_builtin_datasets():
    hashes = {load_builtin(name).content_hash for name in BUILTIN_DATASETS}
    assert len(hashes) == len(BUILTIN_DATASETS)
